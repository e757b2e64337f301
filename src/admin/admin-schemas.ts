import { z } from '@hono/zod-openapi';
import type { Policy } from '../config/policy.js';
import { MAX_AMOUNT } from '../quota/errors.js';
import { subjectIdSchema } from '../subjects/subject.js';
import { isoDateTimeSchema as iso } from '../lib/iso-time.js';

const MAX_REASON = 500;
const wholeNumber = (min: number, max: number) => z.number().int('must be a whole number').min(min, `must be at least ${min}`).max(max, `must be at most ${max}`);

/** Schemas of the admin API, built from the policy so plan and metric names are checked (and documented). */
export function adminSchemas(policy: Policy) {
  const metricNames = Object.keys(policy.metrics) as [string, ...string[]];
  const counterNames = metricNames.filter((m) => policy.metrics[m]!.kind === 'counter');
  const planNames = Object.keys(policy.plans) as [string, ...string[]];
  const metric = z.enum(metricNames, { error: `must be one of: ${metricNames.join(', ')}` }).openapi({ description: 'A metric of the policy' });
  const plan = z.enum(planNames, { error: `must be one of the policy's plans: ${planNames.join(', ')}` }).openapi({ description: 'A plan of the policy' });
  const reason = z.string().trim().min(1, 'must not be empty').max(MAX_REASON, `must be at most ${MAX_REASON} characters`);
  const overrides = z
    .partialRecord(metric, wholeNumber(0, MAX_AMOUNT).nullable())
    // JSON has no undefined: every key present has a limit or null.
    .transform((o) => o as Record<string, number | null>)
    .openapi({ description: "metric → limit replacing the plan's (null: unlimited)" });
  const subjectId = subjectIdSchema.openapi({ param: { name: 'id', in: 'path' }, example: 'org_42' });
  const limit = z.coerce.number().int('must be a whole number').min(1, 'must be at least 1').max(500, 'must be at most 500').default(50);
  const cursor = z.string().max(512).optional().openapi({ description: 'next_cursor of the previous page' });

  return {
    metric,
    plan,
    reason,
    subjectParams: z.object({ id: subjectId }),
    createSubject: z
      .strictObject({
        id: subjectIdSchema,
        plan,
        anchor: iso.optional().openapi({ description: 'Billing anchor; default: calendar months in UTC' }),
        overrides: overrides.optional(),
      })
      .openapi('CreateSubject'),
    changeSubject: z
      .strictObject({
        plan: plan.optional(),
        anchor: iso.nullable().optional().openapi({ description: 'New billing anchor (a new period starts from it); null: calendar months' }),
        overrides: overrides.optional(),
        force: z.boolean().optional().openapi({ description: 'Apply a downgrade even when a gauge is above the new limit' }),
        reason: reason.optional(),
      })
      .refine((b) => b.plan !== undefined || b.anchor !== undefined || b.overrides !== undefined, {
        message: 'nothing to change: give plan, anchor or overrides',
        path: ['plan'],
      })
      .openapi('ChangeSubject'),
    listSubjects: z.object({ plan: plan.optional(), limit, cursor }),
    createKey: z.strictObject({ name: z.string().trim().min(1).max(200, 'must be at most 200 characters').optional() }).openapi('CreateKey'),
    keyParams: z.object({
      id: subjectId,
      keyId: z
        .string()
        .max(64)
        .openapi({ param: { name: 'keyId', in: 'path' } }),
    }),
    reset: z
      .strictObject({
        metrics: z
          .array(z.enum(counterNames as [string, ...string[]], { error: `must be a counter metric: ${counterNames.join(', ')}` }))
          .min(1, 'give at least one metric, or leave metrics out to reset every counter')
          .max(metricNames.length)
          .optional(),
        reason,
      })
      .openapi('Reset'),
    grant: z
      .strictObject({
        metric,
        amount: wholeNumber(1, MAX_AMOUNT),
        expires_at: iso.optional().openapi({ description: 'When the grant stops counting; must be in the future; default: never' }),
        reason,
      })
      .openapi('CreateGrant'),
    grantParams: z.object({
      id: subjectId,
      grantId: z
        .string()
        .max(64)
        .openapi({ param: { name: 'grantId', in: 'path' } }),
    }),
    revoke: z.strictObject({ reason: reason.optional() }).openapi('Revoke'),
    adjust: z
      .strictObject({
        metric,
        delta: wholeNumber(-MAX_AMOUNT, MAX_AMOUNT).refine((d) => d !== 0, 'must not be 0'),
        reason,
      })
      .openapi('Adjust'),
    auditQuery: z.object({
      subject: subjectIdSchema.optional(),
      action: z.string().max(100).optional(),
      from: iso.optional(),
      to: iso.optional(),
      limit,
      cursor,
    }),
    ledgerQuery: z.object({
      subject: subjectIdSchema.optional(),
      metric: metric.optional(),
      kind: z.enum(['consume', 'settle', 'refund', 'release', 'expire', 'reset', 'grant', 'grant_revoke', 'adjust', 'denied']).optional(),
      period: iso.optional().openapi({ description: 'Period start of counter events' }),
      from: iso.optional(),
      to: iso.optional(),
      limit,
      cursor,
    }),
    pageQuery: z.object({ limit, cursor }),
    runParams: z.object({
      id: z.coerce
        .number()
        .int('must be a whole number')
        .min(1, 'must be at least 1')
        .max(Number.MAX_SAFE_INTEGER, 'is not a run id')
        .openapi({ param: { name: 'id', in: 'path' } }),
    }),
    deadLetterQuery: z.object({
      state: z.enum(['sanitised', 'parked', 'replayed']).optional(),
      subject: subjectIdSchema.optional(),
      limit,
      cursor,
    }),
    deadLetterParams: z.object({
      eventId: z
        .string()
        .min(1)
        .max(300)
        .openapi({ param: { name: 'eventId', in: 'path' } }),
    }),
    replayAllQuery: z.object({ limit }),
    jobParams: z.object({
      jobId: z
        .string()
        .max(64)
        .openapi({ param: { name: 'jobId', in: 'path' } }),
    }),
  };
}

export type AdminSchemas = ReturnType<typeof adminSchemas>;
