import type { MiddlewareHandler } from 'hono';
import { ProblemError } from '../../http/problem.js';
import { sessionCookie, type AdminSessions } from '../admin-session.js';
import { UI_BASE } from './layout.js';

declare module 'hono' {
  interface ContextVariableMap {
    /** The dashboard session's CSRF token, for the page to send back on changes. */
    csrf: string;
  }
}

/**
 * Dashboard routes need a valid session cookie: a page without one redirects to the login
 * form; a fragment or the feed (fetched by the page's script) answers 401 instead.
 */
export function requireSession(sessions: AdminSessions | null, otherwise: 'redirect' | 'unauthorized'): MiddlewareHandler {
  return async function requireSessionMiddleware(c, next) {
    const cookie = sessionCookie(c);
    const session = sessions && cookie !== undefined ? sessions.verify(cookie) : null;
    if (!sessions || !session) {
      if (otherwise === 'redirect') return c.redirect(`${UI_BASE}/login`, 303);
      throw new ProblemError('unauthorized', 'log in to the dashboard first', {});
    }
    c.set('csrf', sessions.csrfToken(cookie!));
    await next();
  };
}
