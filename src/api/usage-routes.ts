import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { GatewayDeps } from '../http/gateway-deps.js';
import { compactHistoryJson, historySchemas } from './history-json.js';
import { MAX_HISTORY_DAYS } from '../history/usage-history.js';
import { subjectRef } from '../subjects/subject-ref.js';
import { backend } from './backend.js';
import { pick } from './problem-responses.js';
import type { ApiSchemas } from './schemas.js';
import { usageEntry } from './usage-entries.js';
import { usageSnapshot } from './usage-snapshot.js';

/** `?history=30d`: whole days, 1 to MAX_HISTORY_DAYS. */
const historyQuery = z
  .string()
  .regex(/^[1-9][0-9]?d$/, `must be a number of days followed by "d", from 1d to ${MAX_HISTORY_DAYS}d (e.g. 30d)`)
  .transform((v) => Number(v.slice(0, -1)))
  .refine((days) => days <= MAX_HISTORY_DAYS, `must be at most ${MAX_HISTORY_DAYS}d`)
  .optional()
  .openapi({ param: { name: 'history', in: 'query' }, description: "Add each metric's usage per UTC day over this many days (today the last) and per hour today", example: '30d' });

/** Either credential reads usage: an API key or a browser's usage token. */
export const READER_SECURITY: Record<string, string[]>[] = [{ apiKey: [] }, { usageToken: [] }];

/** GET /v1/usage: the authoritative numbers a frontend shows. */
export function registerUsageRoutes(app: OpenAPIHono, deps: GatewayDeps, schemas: ApiSchemas): void {
  const history = historySchemas(schemas);
  const route = createRoute({
    method: 'get',
    path: '/v1/usage',
    summary: "The subject's plan and, per metric, limit, used, remaining, grants, percent, status and forecast; with ?history=30d, usage per day",
    // Typed as OpenAPI's security requirement list: inferred from the literal, the two
    // objects' differing keys make the route's input type `never`.
    security: READER_SECURITY,
    request: { query: z.object({ history: historyQuery }) },
    responses: {
      200: {
        description: 'Current usage',
        content: {
          'application/json': {
            schema: z
              .object({
                subject: z.string(),
                plan: z.string(),
                metrics: z.array(schemas.usageEntry.extend({ history: history.compact.optional().openapi({ description: 'With ?history only' }) })),
              })
              .openapi('Usage'),
          },
        },
      },
      ...pick(400, 401, 503),
    },
  });
  app.openapi(route, async (c) => {
    const owner = c.get('owner').subject;
    const days = c.req.valid('query').history;
    if (days === undefined) return c.json(await usageSnapshot(c, deps, owner), 200);
    const subject = subjectRef(owner);
    const usage = await backend(c, deps, () => deps.engine.usage(subject));
    const h = await backend(c, deps, () => deps.history.history(subject, usage, days));
    const metrics = h.metrics.map((m) => ({ ...usageEntry(m.usage, m.forecast), history: compactHistoryJson(h, m) }));
    return c.json({ subject: subject.id, plan: subject.plan, metrics }, 200);
  });
}
