import type { MiddlewareHandler } from 'hono';
import { cors } from 'hono/cors';

/**
 * CORS for the read-only usage endpoints, for exactly the origins the operator lists in
 * QG_CORS_ORIGINS (none: no CORS headers, browsers on other origins cannot read them).
 * Pages send a usage token as a Bearer header, never a cookie, so credentials stay off.
 * It runs before authentication: a preflight carries no credentials, and a 401 must still
 * be readable by the page (so it knows to mint a new token).
 */
export function usageCors(origins: readonly string[]): MiddlewareHandler[] {
  if (origins.length === 0) return [];
  const allowed = new Set(origins);
  return [
    cors({
      origin: (origin) => (allowed.has(origin) ? origin : null),
      allowMethods: ['GET'],
      allowHeaders: ['authorization'],
      exposeHeaders: ['x-request-id'],
      maxAge: 600,
    }),
  ];
}
