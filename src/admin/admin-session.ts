import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';

/**
 * Browser sessions of the admin dashboard. A browser cannot send a Bearer header when it
 * navigates, so logging in with ADMIN_TOKEN sets a cookie holding a signed, expiring session
 * (never the token). Stateless: the signing key is derived from the token's hash, so every
 * gateway with the same ADMIN_TOKEN accepts the session, and changing the token ends them all.
 */

export const SESSION_COOKIE = 'qg_admin_session';
/** Sent by the dashboard's own requests that change something (see csrfToken). */
export const CSRF_HEADER = 'x-quotagate-csrf';
/** How long a login lasts. */
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;

export interface AdminSession {
  /** `admin`, or `admin:<name>` when a name was given at login. */
  actor: string;
  expiresAt: number;
}

const mac = (key: Buffer, purpose: string, data: string) => createHmac('sha256', key).update(`${purpose}\n${data}`).digest();

/** Equal in constant time (a length mismatch returns at once: lengths are not secret). */
const same = (a: Buffer, b: Buffer) => a.length === b.length && timingSafeEqual(a, b);

export class AdminSessions {
  private readonly key: Buffer;

  constructor(
    tokenHash: Buffer,
    private readonly now: () => number = Date.now,
  ) {
    this.key = mac(tokenHash, 'key', 'quotagate admin session v1');
  }

  /** A new session value: `<payload>.<signature>`, both base64url; the payload is {a: name, e: expiry, n: nonce}. */
  issue(name: string | null): { value: string; expiresAt: number } {
    const expiresAt = this.now() + SESSION_TTL_MS;
    const payload = Buffer.from(JSON.stringify({ a: name, e: expiresAt, n: randomBytes(16).toString('base64url') })).toString('base64url');
    return { value: `${payload}.${mac(this.key, 'session', payload).toString('base64url')}`, expiresAt };
  }

  /** The session a cookie value holds, or null if it is forged, malformed or expired. */
  verify(value: string | undefined): AdminSession | null {
    const [payload, signature, extra] = value?.split('.') ?? [];
    if (payload === undefined || signature === undefined || extra !== undefined) return null;
    if (!same(Buffer.from(signature, 'base64url'), mac(this.key, 'session', payload))) return null;
    let session: unknown;
    try {
      session = JSON.parse(Buffer.from(payload, 'base64url').toString());
    } catch {
      return null;
    }
    const { a, e } = (session ?? {}) as { a?: unknown; e?: unknown };
    if (typeof e !== 'number' || e <= this.now()) return null;
    return { actor: typeof a === 'string' ? `admin:${a}` : 'admin', expiresAt: e };
  }

  /**
   * The CSRF token of a session (synchronizer token, stateless): a MAC of the session value,
   * embedded in the dashboard's pages and sent back in CSRF_HEADER. Another site can make
   * the browser send the cookie, but cannot read a page to learn this.
   */
  csrfToken(sessionValue: string): string {
    return mac(this.key, 'csrf', sessionValue).toString('base64url');
  }

  csrfValid(sessionValue: string, token: string | undefined): boolean {
    return token !== undefined && same(Buffer.from(token, 'base64url'), mac(this.key, 'csrf', sessionValue));
  }
}

/** The raw session cookie of a request. */
export const sessionCookie = (c: Context): string | undefined => getCookie(c, SESSION_COOKIE);

/** Behind a TLS-terminating proxy the gateway sees http; the proxy's header says what the browser used. */
const isHttps = (c: Context) => new URL(c.req.url).protocol === 'https:' || c.req.header('x-forwarded-proto')?.split(',')[0]?.trim() === 'https';

/** HttpOnly (no script reads it), SameSite=Strict (no other site's request carries it), Secure over https, only under /admin. */
export function setSessionCookie(c: Context, session: { value: string; expiresAt: number }): void {
  setCookie(c, SESSION_COOKIE, session.value, {
    path: '/admin',
    httpOnly: true,
    sameSite: 'Strict',
    secure: isHttps(c),
    expires: new Date(session.expiresAt),
  });
}

export const clearSessionCookie = (c: Context): void => {
  deleteCookie(c, SESSION_COOKIE, { path: '/admin', httpOnly: true, sameSite: 'Strict', secure: isHttps(c) });
};
