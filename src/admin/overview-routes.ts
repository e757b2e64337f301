import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { backend } from '../api/backend.js';
import { pick } from '../api/problem-responses.js';
import type { ApiSchemas } from '../api/schemas.js';
import type { GatewayDeps } from '../http/gateway-deps.js';
import type { AdminDeps } from './admin-deps.js';
import { adminRoute, json } from './admin-openapi.js';
import { loadOverview, overviewSchema } from './overview/overview.js';

/** GET /admin/v1/overview: what needs an operator's eye across every subject. */
export function registerOverviewRoutes(app: OpenAPIHono, deps: GatewayDeps, admin: AdminDeps, api: ApiSchemas): void {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/admin/v1/overview',
      ...adminRoute,
      summary: 'Subjects near or over their limits, top consumers, denials per day and their rate, reconciliation drift, dead letters',
      responses: { 200: { description: 'The overview', ...json(overviewSchema(api)) }, ...pick(401, 503) },
    }),
    async (c) => c.json(await backend(c, deps, () => loadOverview(deps, admin)), 200),
  );
}
