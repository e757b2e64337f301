import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { backend } from '../api/backend.js';
import { pick } from '../api/problem-responses.js';
import type { ApiSchemas } from '../api/schemas.js';
import type { GatewayDeps } from '../http/gateway-deps.js';
import { historySchemas, subjectHistoryJson } from '../api/history-json.js';
import { MAX_HISTORY_DAYS } from '../history/usage-history.js';
import type { SubjectRecord } from '../subjects/subject.js';
import { subjectRef } from '../subjects/subject-ref.js';
import { subjectOr404 } from './admin-context.js';
import type { AdminDeps } from './admin-deps.js';
import { adminRoute, json } from './admin-openapi.js';
import type { AdminSchemas } from './admin-schemas.js';

/** Default days of GET …/history. */
export const DEFAULT_HISTORY_DAYS = 30;

/** A subject's history as the admin API answers it (also what the dashboard draws). */
export async function subjectHistory(deps: GatewayDeps, subject: SubjectRecord, days: number, metrics?: readonly string[]) {
  const ref = subjectRef(subject);
  const usage = await deps.engine.usage(ref, metrics);
  return subjectHistoryJson(subject, await deps.history.history(ref, usage, days));
}

/** GET /admin/v1/subjects/{id}/history: usage per day and hour, levels and forecasts. */
export function registerUsageHistoryRoutes(app: OpenAPIHono, deps: GatewayDeps, admin: AdminDeps, s: AdminSchemas, api: ApiSchemas): void {
  const schemas = historySchemas(api);
  app.openapi(
    createRoute({
      method: 'get',
      path: '/admin/v1/subjects/{id}/history',
      ...adminRoute,
      summary: "A subject's usage per UTC day (today the last) and per hour today, each metric's level at every day's end, and its forecast",
      description:
        "Read from the ledger's hourly rollups (usage_rollups), which the worker keeps with the ledger: as current as the ledger, a flush interval behind the live figures.",
      request: {
        params: s.subjectParams,
        query: z.object({
          days: z.coerce
            .number()
            .int('must be a whole number')
            .min(1, 'must be at least 1')
            .max(MAX_HISTORY_DAYS, `must be at most ${MAX_HISTORY_DAYS}`)
            .default(DEFAULT_HISTORY_DAYS),
          metric: s.metric.optional().openapi({ description: 'Only this metric' }),
        }),
      },
      responses: { 200: { description: 'The history', ...json(schemas.subject) }, ...pick(400, 401, 404, 503) },
    }),
    async (c) => {
      const subject = await subjectOr404(admin, c.req.valid('param').id);
      const { days, metric } = c.req.valid('query');
      return c.json(await backend(c, deps, () => subjectHistory(deps, subject, days, metric === undefined ? undefined : [metric])), 200);
    },
  );
}
