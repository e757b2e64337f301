import { createHash } from 'node:crypto';
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { GatewayDeps } from '../http/gateway-deps.js';
import { idempotencyProblem } from '../http/decision-answer.js';
import { apiIdempotencyKey } from '../http/idempotency-key.js';
import { subjectRef } from '../subjects/subject-ref.js';
import { backend } from './backend.js';
import { pick } from './problem-responses.js';
import type { ApiSchemas } from './schemas.js';

/** POST /v1/release: a gauge goes down (a project was deleted). Never below 0, never needs quota. */
export function registerReleaseRoutes(app: OpenAPIHono, deps: GatewayDeps, schemas: ApiSchemas): void {
  const route = createRoute({
    method: 'post',
    path: '/v1/release',
    summary: 'Lower a gauge metric (never below 0)',
    security: [{ apiKey: [] }],
    request: { body: { content: { 'application/json': { schema: schemas.releaseBody } }, required: true } },
    responses: {
      200: {
        description: 'Released (Idempotent-Replayed: true on a replay)',
        content: {
          'application/json': {
            schema: z
              .object({
                metric: z.string(),
                released: z.number().int().openapi({ description: 'Units actually taken off (less than asked when the level was lower)' }),
                used: z.number().int().openapi({ description: 'The level afterwards' }),
              })
              .openapi('Released'),
          },
        },
      },
      ...pick(400, 401, 409, 422, 503),
    },
  });

  app.openapi(route, async (c) => {
    const body = c.req.valid('json');
    const key = apiIdempotencyKey(c.req.raw.headers, body.idempotency_key);
    const fingerprint = createHash('sha256').update(`release\n${body.metric}\n${body.amount}`).digest('base64url');
    const result = await backend(c, deps, () =>
      deps.engine.release(subjectRef(c.get('owner').subject), body.metric, body.amount, {
        idempotency: key ? { key, fingerprint } : undefined,
        context: { route: 'api:release', key: c.get('owner').keyId },
      }),
    );
    if (!('level' in result)) throw idempotencyProblem(result.outcome);
    const headers: Record<string, string> = result.outcome === 'replayed' ? { 'idempotent-replayed': 'true' } : {};
    return c.json({ metric: body.metric, released: result.released, used: result.level }, 200, headers);
  });
}
