import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { backend } from '../../api/backend.js';
import type { AdminRouteDeps } from '../admin-deps.js';
import { ProblemError } from '../../http/problem.js';
import { subjectIdSchema, type SubjectRecord } from '../../subjects/subject.js';
import { AdminSessions } from '../admin-session.js';
import { decodeCursor, page } from '../cursor.js';
import { loadOverview } from '../overview/overview.js';
import { grantsJson, subjectDetailJson } from '../subject-view.js';
import { DEFAULT_HISTORY_DAYS, subjectHistory } from '../usage-history-routes.js';
import { STYLESHEET, SCRIPT } from './assets.js';
import { feedStream } from './feed-stream.js';
import { loadHistory } from './history-tables.js';
import { ASSETS, UI_BASE } from './layout.js';
import { registerLoginRoutes } from './login-page.js';
import { OverviewPage } from './overview-page.js';
import { NotFoundPage, SubjectPage, SubjectsPage } from './pages.js';
import { GrantsTable } from './subject-actions.js';
import { UsagePanel } from './usage-bars.js';
import { uiRouter } from './ui-route.js';

/** Subjects per page of the list (each costs one usage read). */
const PAGE_SIZE = 20;
/** Login and logout forms are a few fields. */
const MAX_FORM_BYTES = 8 * 1024;

/** Scripts and styles only from the gateway itself, nothing inline but style attributes (the bars' widths), no framing. */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

/**
 * The admin dashboard under /admin/ui: server-rendered pages (Hono JSX) over the admin
 * API's own functions, a login that turns ADMIN_TOKEN into a session cookie, and a live
 * feed of the outbox streams. README "Admin dashboard" describes the design.
 */
export function registerAdminUi(app: OpenAPIHono, deps: AdminRouteDeps): void {
  const { admin } = deps;
  const sessions = admin.adminTokenHash ? new AdminSessions(admin.adminTokenHash) : null;
  const route = uiRouter(app, sessions);

  app.use(`${UI_BASE}/*`, async (c, next) => {
    await next();
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) if (!c.res.headers.has(name)) c.res.headers.set(name, value);
  });
  app.use(
    `${UI_BASE}/*`,
    bodyLimit({
      maxSize: MAX_FORM_BYTES,
      onError: () => {
        throw new ProblemError('payload_too_large', `dashboard forms are limited to ${MAX_FORM_BYTES} bytes`, { limit: MAX_FORM_BYTES });
      },
    }),
  );
  app.openAPIRegistry.registerComponent('securitySchemes', 'adminSession', {
    type: 'apiKey',
    in: 'cookie',
    name: 'qg_admin_session',
    description: 'The dashboard session, set by POST /admin/ui/login; also accepted by /admin/v1 (changes need the x-quotagate-csrf header)',
  });

  route({ method: 'get', path: ASSETS.css, summary: "The dashboard's stylesheet", type: 'text/css' }, (c) =>
    c.body(STYLESHEET, 200, { 'content-type': 'text/css; charset=utf-8' }),
  );
  route({ method: 'get', path: ASSETS.js, summary: "The dashboard's script", type: 'text/javascript' }, (c) =>
    c.body(SCRIPT, 200, { 'content-type': 'text/javascript; charset=utf-8' }),
  );
  registerLoginRoutes(route, sessions, admin.adminTokenHash);

  /** The live subject `id` names, or null (also for an id that cannot be one). */
  const findSubject = async (id: string): Promise<SubjectRecord | null> => (subjectIdSchema.safeParse(id).success ? admin.subjects.get(id) : null);
  /** A fragment's subject: its script asked for a live one, so a missing one is a 404 problem. */
  const fragmentSubject = async (c: Context): Promise<SubjectRecord> => {
    const id = c.req.param('id') ?? '';
    const subject = await findSubject(id);
    if (!subject) throw new ProblemError('not_found', `no subject "${id}"`, { field: 'id' });
    return subject;
  };
  const detail = (c: Context, subject: SubjectRecord) => backend(c, deps, () => subjectDetailJson(deps, admin, subject));

  route(
    { method: 'get', path: UI_BASE, summary: 'Dashboard: subjects with usage bars per metric (?plan, ?cursor; ?subject opens one)', type: 'text/html', session: 'page' },
    async (c) => {
      const jump = c.req.query('subject')?.trim();
      if (jump) return c.redirect(`${UI_BASE}/subjects/${encodeURIComponent(jump)}`, 303);
      const plan = c.req.query('plan');
      const known = plan !== undefined && plan in deps.policy.plans ? plan : undefined;
      const after = decodeCursor(c.req.query('cursor'), ['text'])?.[0] as string | undefined;
      const rows = await admin.subjects.list({ after, plan: known, limit: PAGE_SIZE + 1 });
      const { items, next_cursor } = page(rows, PAGE_SIZE, (r) => [r.id]);
      const subjects = await Promise.all(items.map((s) => detail(c, s)));
      const query = new URLSearchParams({ ...(known && { plan: known }), ...(next_cursor && { cursor: next_cursor }) });
      return c.html(<SubjectsPage csrf={c.get('csrf')} policy={deps.policy} subjects={subjects} plan={known} nextPage={next_cursor && `${UI_BASE}?${query}`} />);
    },
  );

  route(
    {
      method: 'get',
      path: `${UI_BASE}/overview`,
      summary: 'Dashboard: subjects near or over their limits, denials, top consumers, drift, dead letters',
      type: 'text/html',
      session: 'page',
    },
    async (c) => c.html(<OverviewPage csrf={c.get('csrf')} overview={await backend(c, deps, () => loadOverview(deps, admin))} />),
  );

  route(
    {
      method: 'get',
      path: `${UI_BASE}/subjects/:id`,
      summary: "Dashboard: a subject's usage, 30-day charts and forecasts, changes (grant, plan, adjust, reset), grants, ledger, audit trail and live feed",
      type: 'text/html',
      session: 'page',
    },
    async (c) => {
      const id = c.req.param('id') ?? '';
      const subject = await findSubject(id);
      if (!subject) return c.html(<NotFoundPage csrf={c.get('csrf')} id={id} />, 404);
      const [view, usageHistory, history] = await Promise.all([
        detail(c, subject),
        backend(c, deps, () => subjectHistory(deps, subject, DEFAULT_HISTORY_DAYS)),
        loadHistory(app, c, id),
      ]);
      return c.html(<SubjectPage csrf={c.get('csrf')} policy={deps.policy} subject={view} usageHistory={usageHistory} history={history} />);
    },
  );

  route({ method: 'get', path: `${UI_BASE}/subjects/:id/usage`, summary: "Dashboard fragment: a subject's usage panel", type: 'text/html', session: 'fragment' }, async (c) =>
    c.html(<UsagePanel subject={await detail(c, await fragmentSubject(c))} />),
  );

  route(
    { method: 'get', path: `${UI_BASE}/subjects/:id/grants`, summary: "Dashboard fragment: a subject's grants with revoke buttons", type: 'text/html', session: 'fragment' },
    async (c) => {
      const subject = await fragmentSubject(c);
      return c.html(<GrantsTable subject={{ id: subject.id, grants: await backend(c, deps, () => grantsJson(deps, admin, subject)) }} />);
    },
  );

  route(
    {
      method: 'get',
      path: `${UI_BASE}/feed`,
      summary: 'Dashboard live feed (server-sent events) of ledger events on every gateway (?subject for one)',
      type: 'text/event-stream',
      session: 'fragment',
    },
    (c) => feedStream(c, admin.outboxTail, c.req.query('subject') || undefined),
  );
}
