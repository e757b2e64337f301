import { z } from '@hono/zod-openapi';
import type { Policy } from '../config/policy.js';
import { forecastSchema } from '../forecast/forecast-json.js';
import { IDEMPOTENCY_KEY_PATTERN } from '../http/idempotency-key.js';
import { MAX_AMOUNT } from '../quota/errors.js';

/** Schemas of the public API, built from the policy so metric names are checked (and documented). */
export function apiSchemas(policy: Policy) {
  const metricNames = Object.keys(policy.metrics) as [string, ...string[]];
  const gaugeNames = metricNames.filter((m) => policy.metrics[m]!.kind === 'gauge');
  const metric = z.enum(metricNames).openapi({ description: 'A metric of the policy' });
  const amount = (min: number) => z.number().int('must be a whole number').min(min, `must be at least ${min}`).max(MAX_AMOUNT, `must be at most ${MAX_AMOUNT}`);
  const idempotencyKey = z
    .string()
    .regex(IDEMPOTENCY_KEY_PATTERN, 'must be 1–255 visible ASCII characters, without "|"')
    .openapi({ description: 'Scoped to the subject; a repeat gets the first decision back' });

  const charge = z.strictObject({ metric, amount: amount(0) }).openapi('Charge');
  /** A request's charges: one line per metric (the engine refuses a metric charged twice). */
  const charges = z
    .array(charge)
    .min(1, 'at least one charge is required')
    .max(32)
    .superRefine((lines, ctx) => {
      lines.forEach((line, i) => {
        if (lines.findIndex((l) => l.metric === line.metric) < i) ctx.addIssue({ code: 'custom', path: [i, 'metric'], message: `"${line.metric}" is charged twice` });
      });
    });

  const metricUsage = z
    .object({
      metric: z.string(),
      kind: z.enum(['counter', 'gauge']),
      limit: z.number().int().nullable().openapi({ description: 'null: unlimited' }),
      used: z.number().int(),
      remaining: z.number().int().nullable().openapi({ description: 'Plan allowance left plus usable grants; null: unlimited' }),
      grant_balance: z.number().int(),
      period_start: z.string().nullable().openapi({ description: 'Counters: start of the current period (ISO 8601); gauges: null' }),
      resets_at: z.string().nullable().openapi({ description: 'Counters: when usage starts again at 0; gauges: null' }),
      windows: z
        .array(
          z.object({
            window: z.enum(['minute', 'hour', 'day']),
            limit: z.number().int(),
            used: z.number().int(),
            remaining: z.number().int(),
            resets_at: z.string().openapi({ description: 'When the window ends (ISO 8601)' }),
          }),
        )
        .optional()
        .openapi({ description: 'Counters limited per minute, hour or day besides their period: each window (a rate limit, charged what requests reserve)' }),
    })
    .openapi('MetricUsage');

  return {
    metric,
    charge,
    metricUsage,
    usageEntry: metricUsage
      .extend({
        percent: z.number().nullable().openapi({ description: 'used / (used + remaining), in %' }),
        status: z.enum(['ok', 'warning', 'critical', 'exceeded']),
        forecast: forecastSchema
          .nullable()
          .openapi({ description: 'Counters: where usage is heading by the period end (an estimate); null for gauges, unlimited metrics and fewer than 3 days of usage' }),
      })
      .openapi('UsageEntry'),
    decisionBody: z.strictObject({ charges, idempotency_key: idempotencyKey.optional() }).openapi('DecisionRequest'),
    reservationBody: z
      .strictObject({
        charges,
        ttl_seconds: z.number().int().min(1).max(86_400).optional().openapi({ description: 'Released after this long unless settled' }),
        idempotency_key: idempotencyKey.optional(),
      })
      .openapi('ReservationRequest'),
    settleBody: z
      .strictObject({
        actual: z
          .union([amount(0), z.record(z.string(), amount(0))])
          .optional()
          .openapi({
            description: 'The amount actually used: a number for a one-metric reservation, else metric → amount; omitted: what was reserved',
          }),
        response: z.string().optional().openapi({
          description: 'Kept with the idempotency key of the reservation and returned to its replays (e.g. the response the work produced)',
        }),
      })
      .openapi('SettleRequest'),
    releaseBody: z
      .strictObject({
        metric: gaugeNames.length > 0 ? z.enum(gaugeNames as [string, ...string[]]) : z.never(),
        amount: amount(1),
        idempotency_key: idempotencyKey.optional(),
      })
      .openapi('ReleaseRequest'),
    reservationId: z
      .string()
      .regex(/^[0-9a-f-]{36}$/, 'must be a reservation id')
      .openapi({ param: { name: 'id', in: 'path' } }),
  };
}

export type ApiSchemas = ReturnType<typeof apiSchemas>;
