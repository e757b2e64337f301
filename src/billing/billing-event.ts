import { z } from '@hono/zod-openapi';
import { subjectIdSchema } from '../subjects/subject.js';
import { isoDateTimeSchema as iso } from '../lib/iso-time.js';

/**
 * A billing provider's event, as POSTed to /webhooks/billing (the README shows examples).
 * Event types quotagate does not handle are accepted and recorded, so the provider does not
 * retry them forever; their `data` is not checked.
 */
export const billingEventSchema = z
  .object({
    id: z.string().min(1).max(255, 'must be at most 255 characters').openapi({ description: "The provider's event id; applied once" }),
    type: z.string().min(1).max(100).openapi({ example: 'subscription.renewed' }),
    data: z
      .record(z.string(), z.unknown())
      .default({})
      .openapi({ description: 'subscription.renewed: {subject_id, period_start?, plan?}; subscription.plan_changed: {subject_id, plan}; subscription.canceled: {subject_id}' }),
  })
  .openapi('BillingEvent');

export const HANDLED_TYPES = ['subscription.renewed', 'subscription.plan_changed', 'subscription.canceled'] as const;
export type HandledType = (typeof HANDLED_TYPES)[number];

/** `data` of each handled type. */
export const billingDataSchemas = {
  /** A new period starts at `period_start` (default: when the event is processed); `plan` may change with it. */
  'subscription.renewed': z.object({ subject_id: subjectIdSchema, period_start: iso.optional(), plan: z.string().min(1).optional() }),
  'subscription.plan_changed': z.object({ subject_id: subjectIdSchema, plan: z.string().min(1) }),
  /** Back to the policy's default plan. */
  'subscription.canceled': z.object({ subject_id: subjectIdSchema }),
} satisfies Record<HandledType, z.ZodType>;

export type BillingEvent = z.output<typeof billingEventSchema>;

export const isHandled = (type: string): type is HandledType => (HANDLED_TYPES as readonly string[]).includes(type);
