import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { ProblemError } from '../http/problem.js';
import { AdminSessions, CSRF_HEADER, sessionCookie } from './admin-session.js';

declare module 'hono' {
  interface ContextVariableMap {
    /** Who is acting through the admin API, for the audit log: "admin" or "admin:<x-quotagate-actor or name given at dashboard login>". */
    actor: string;
  }
}

const CHALLENGE = { 'www-authenticate': 'Bearer realm="quotagate-admin"' };
/** Optional name of the person or tool behind the token (header, or given at dashboard login), recorded in the audit log. */
export const ACTOR_PATTERN = /^[\x21-\x7e][\x20-\x7e]{0,127}$/;
/** Methods that change nothing; the others need the CSRF token when authenticated by the session cookie. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export const hashToken = (token: string): Buffer => createHash('sha256').update(token).digest();

/** Both sides are hashed first, so the comparison is constant-time over equal lengths and the token itself is not kept in memory. */
export const isAdminToken = (token: string, tokenHash: Buffer): boolean => timingSafeEqual(hashToken(token), tokenHash);

/**
 * `Authorization: Bearer <ADMIN_TOKEN>`, or else the dashboard's session cookie
 * (admin-session.ts). API keys are not admin tokens: they fail like any wrong token.
 * A cookie is sent by the browser whoever made the page, so a cookie-authenticated request
 * that changes something must also carry the session's CSRF token in x-quotagate-csrf
 * (besides SameSite=Strict); a Bearer request needs none, no browser adds that header by itself.
 */
export function adminAuth(tokenHash: Buffer | null): MiddlewareHandler {
  const sessions = tokenHash ? new AdminSessions(tokenHash) : null;
  return async function adminAuthMiddleware(c, next) {
    if (!tokenHash || !sessions) throw new ProblemError('unauthorized', 'the admin API is disabled: set ADMIN_TOKEN to enable it', {}, CHALLENGE);
    const authorization = c.req.header('authorization');
    const cookie = authorization === undefined ? sessionCookie(c) : undefined;
    const session = cookie === undefined ? null : sessions.verify(cookie);
    if (session) {
      if (!SAFE_METHODS.has(c.req.method) && !sessions.csrfValid(cookie!, c.req.header(CSRF_HEADER))) {
        throw new ProblemError('forbidden', `a dashboard session changes things only with its CSRF token in ${CSRF_HEADER}`);
      }
      c.set('actor', session.actor);
      return next();
    }
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!match || !isAdminToken(match[1]!, tokenHash)) {
      throw new ProblemError('unauthorized', 'an admin token is required: send "Authorization: Bearer <ADMIN_TOKEN>"', {}, CHALLENGE);
    }
    const actor = c.req.header('x-quotagate-actor');
    if (actor !== undefined && !ACTOR_PATTERN.test(actor)) {
      throw new ProblemError('invalid_request', 'x-quotagate-actor must be 1–128 printable ASCII characters', { field: 'x-quotagate-actor' });
    }
    c.set('actor', actor === undefined ? 'admin' : `admin:${actor}`);
    await next();
  };
}
