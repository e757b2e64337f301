import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { usageJson } from '../http/decision-answer.js';
import type { GatewayDeps } from '../http/gateway-deps.js';
import { usageStatus } from '../quota/usage-status.js';
import { subjectRef } from '../subjects/subject-ref.js';
import { backend } from './backend.js';
import { pick } from './problem-responses.js';
import type { ApiSchemas } from './schemas.js';

/** GET /v1/usage: the authoritative numbers a frontend shows. */
export function registerUsageRoutes(app: OpenAPIHono, deps: GatewayDeps, schemas: ApiSchemas): void {
  const route = createRoute({
    method: 'get',
    path: '/v1/usage',
    summary: "The subject's plan and, per metric, limit, used, remaining, grants, percent and status",
    security: [{ apiKey: [] }],
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
  app.openapi(route, async (c) => {
    const subject = subjectRef(c.get('owner').subject);
    const metrics = await backend(c, deps, () => deps.engine.usage(subject));
    return c.json({ subject: subject.id, plan: subject.plan, metrics: metrics.map((m) => ({ ...usageJson(m), ...usageStatus(m) })) }, 200);
  });
}
