import { ACTOR_PATTERN, isAdminToken } from '../admin-auth.js';
import { clearSessionCookie, sessionCookie, setSessionCookie, type AdminSessions } from '../admin-session.js';
import { Layout, UI_BASE } from './layout.js';
import type { UiRoute } from './ui-route.js';

function LoginPage(props: { error?: string }) {
  return (
    <Layout title="Log in">
      <form class="login card" method="post" action={`${UI_BASE}/login`}>
        <h1>Log in</h1>
        {props.error && (
          <p class="error" role="alert">
            {props.error}
          </p>
        )}
        <label for="token">Admin token</label>
        <input id="token" name="token" type="password" autocomplete="current-password" required />
        <label for="name">Your name (optional, for the audit log)</label>
        <input id="name" name="name" type="text" autocomplete="username" maxlength={128} />
        <button type="submit">Log in</button>
      </form>
    </Layout>
  );
}

/**
 * Login with ADMIN_TOKEN → a session cookie (admin-session.ts); logout clears it. Logout
 * needs the page's CSRF token too, so another site cannot log the browser out.
 */
export function registerLoginRoutes(route: UiRoute, sessions: AdminSessions | null, tokenHash: Buffer | null): void {
  route({ method: 'get', path: `${UI_BASE}/login`, summary: 'Dashboard login form', type: 'text/html' }, (c) => {
    if (sessions?.verify(sessionCookie(c))) return c.redirect(UI_BASE, 303);
    return c.html(<LoginPage error={tokenHash ? undefined : 'The admin dashboard is disabled: set ADMIN_TOKEN to enable it.'} />);
  });

  route(
    { method: 'post', path: `${UI_BASE}/login`, summary: 'Log in with the admin token (form: token, name?); sets the session cookie', type: 'text/html', redirects: true },
    async (c) => {
      const form = await c.req.parseBody();
      const token = typeof form.token === 'string' ? form.token : '';
      const name = typeof form.name === 'string' && form.name.trim() !== '' ? form.name.trim() : null;
      if (!tokenHash || !sessions) return c.html(<LoginPage error="The admin dashboard is disabled: set ADMIN_TOKEN to enable it." />, 401);
      if (!isAdminToken(token, tokenHash)) {
        c.get('log').warn('dashboard login with a wrong token');
        return c.html(<LoginPage error="That is not the admin token." />, 401);
      }
      if (name !== null && !ACTOR_PATTERN.test(name)) return c.html(<LoginPage error="The name must be 1–128 printable ASCII characters." />, 400);
      setSessionCookie(c, sessions.issue(name));
      return c.redirect(UI_BASE, 303);
    },
  );

  route({ method: 'post', path: `${UI_BASE}/logout`, summary: 'Log out (form: csrf); clears the session cookie', type: 'text/html', redirects: true }, async (c) => {
    const cookie = sessionCookie(c);
    const form = await c.req.parseBody();
    if (sessions && cookie !== undefined && sessions.verify(cookie) && !sessions.csrfValid(cookie, typeof form.csrf === 'string' ? form.csrf : undefined)) {
      return c.html(<LoginPage error="Log out from the dashboard's own button." />, 403);
    }
    clearSessionCookie(c);
    return c.redirect(`${UI_BASE}/login`, 303);
  });
}
