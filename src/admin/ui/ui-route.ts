import { z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Handler } from 'hono';
import type { AdminSessions } from '../admin-session.js';
import { requireSession } from './ui-session.js';

export interface UiRouteSpec {
  method: 'get' | 'post';
  /** Hono's pattern (`:id`). */
  path: string;
  summary: string;
  /** What a 200 answers. */
  type: 'text/html' | 'text/event-stream' | 'text/css' | 'text/javascript';
  /** Answers with a 303 redirect on success (form posts). */
  redirects?: boolean;
  /** Needs the dashboard session; without one a page redirects to the login form, a fragment (or the feed) answers 401. */
  session?: 'page' | 'fragment';
}

/** Serves a dashboard route and declares it in the OpenAPI document (every served route is documented). */
export type UiRoute = (spec: UiRouteSpec, handler: Handler) => void;

export function uiRouter(app: OpenAPIHono, sessions: AdminSessions | null): UiRoute {
  return (spec, handler) => {
    const method = spec.method.toUpperCase();
    if (spec.session) app.on(method, spec.path, requireSession(sessions, spec.session === 'page' ? 'redirect' : 'unauthorized'), handler);
    else app.on(method, spec.path, handler);
    const params = [...spec.path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]!);
    app.openAPIRegistry.registerPath({
      method: spec.method,
      path: spec.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}'),
      tags: ['admin-ui'],
      summary: spec.summary,
      ...(spec.session && { security: [{ adminSession: [] }] }),
      ...(params.length > 0 && { request: { params: z.object(Object.fromEntries(params.map((name) => [name, z.string()]))) } }),
      responses: {
        200: { description: spec.type, content: { [spec.type]: { schema: z.string() } } },
        ...(spec.redirects && { 303: { description: 'Redirect (after logging in or out)' } }),
        ...(spec.session && { 401: { description: 'No valid session: pages redirect to the login form (303), fragments and the feed answer 401' } }),
      },
    });
  };
}
