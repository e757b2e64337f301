import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { GatewayDeps } from '../http/gateway-deps.js';
import { pick } from './problem-responses.js';
import type { ApiSchemas } from './schemas.js';
import { usageSnapshot } from './usage-snapshot.js';

/** GET /v1/usage: the authoritative numbers a frontend shows. */
export function registerUsageRoutes(app: OpenAPIHono, deps: GatewayDeps, schemas: ApiSchemas): void {
  const route = createRoute({
    method: 'get',
    path: '/v1/usage',
    summary: "The subject's plan and, per metric, limit, used, remaining, grants, percent and status",
    security: [{ apiKey: [] }, { usageToken: [] }],
    responses: {
      200: {
        description: 'Current usage',
        content: {
          'application/json': {
            schema: z.object({ subject: z.string(), plan: z.string(), metrics: z.array(schemas.usageEntry) }).openapi('Usage'),
          },
        },
      },
      ...pick(401, 503),
    },
  });
  app.openapi(route, async (c) => c.json(await usageSnapshot(c, deps, c.get('owner').subject), 200));
}
