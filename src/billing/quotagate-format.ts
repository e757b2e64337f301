import { z } from '@hono/zod-openapi';
import type { Policy } from '../config/policy.js';
import { isoDateTimeSchema as iso } from '../lib/iso-time.js';
import { subjectIdSchema } from '../subjects/subject.js';
import type { Translation } from './billing-change.js';

/**
 * quotagate's own billing event format, POSTed to /webhooks/billing by a billing system that
 * translates for itself (the README shows examples). Event types quotagate does not handle
 * are accepted and recorded, so the sender does not retry them forever; their `data` is not
 * checked.
 */
export const billingEventSchema = z
  .object({
    id: z.string().min(1).max(255, 'must be at most 255 characters').openapi({ description: "The provider's event id; applied once" }),
    type: z.string().min(1).max(100).openapi({ example: 'subscription.renewed' }),
    occurred_at: iso
      .optional()
      .openapi({ description: 'When it happened at the provider (default: when received); an event older than what the subject reflects changes nothing' }),
    data: z
      .record(z.string(), z.unknown())
      .default({})
      .openapi({ description: 'subscription.renewed: {subject_id, period_start?, plan?}; subscription.plan_changed: {subject_id, plan}; subscription.canceled: {subject_id}' }),
  })
  .openapi('BillingEvent');

export const HANDLED_TYPES = ['subscription.renewed', 'subscription.plan_changed', 'subscription.canceled'] as const;
type HandledType = (typeof HANDLED_TYPES)[number];

/** `data` of each handled type. */
const dataSchemas = {
  /** A new period starts at `period_start` (default: when the event is processed); `plan` may change with it. */
  'subscription.renewed': z.object({ subject_id: subjectIdSchema, period_start: iso.optional(), plan: z.string().min(1).optional() }),
  'subscription.plan_changed': z.object({ subject_id: subjectIdSchema, plan: z.string().min(1) }),
  /** Back to the policy's default plan. */
  'subscription.canceled': z.object({ subject_id: subjectIdSchema }),
} satisfies Record<HandledType, z.ZodType>;

export type BillingEvent = z.output<typeof billingEventSchema>;

const isHandled = (type: string): type is HandledType => (HANDLED_TYPES as readonly string[]).includes(type);

/**
 * The quotagate format as a change of one subscription — the subject's own, since the format
 * names no other. Throws a ZodError (paths under `data`) for a handled type with bad data.
 */
export function translateQuotagateEvent(event: BillingEvent, policy: Policy, receivedAt: number): Translation {
  if (!isHandled(event.type)) return { ignored: `quotagate handles ${HANDLED_TYPES.join(', ')}` };
  const data = dataSchemas[event.type].parse(event.data) as { subject_id: string; plan?: string; period_start?: string };
  if (data.plan !== undefined && !(data.plan in policy.plans)) return { ignored: `plan "${data.plan}" is not in the policy` };
  const base = {
    subscription: data.subject_id,
    subject: data.subject_id,
    fields: { subject: 'data.subject_id' },
    at: event.occurred_at === undefined ? receivedAt : Date.parse(event.occurred_at),
  };
  switch (event.type) {
    case 'subscription.renewed':
      return {
        change: {
          ...base,
          kind: 'renewal',
          status: 'live',
          period: { start: data.period_start === undefined ? receivedAt : Date.parse(data.period_start), end: null },
          ...(data.plan !== undefined && { plan: data.plan }),
        },
      };
    case 'subscription.plan_changed':
      return { change: { ...base, kind: 'update', status: 'live', plan: data.plan! } };
    case 'subscription.canceled':
      return { change: { ...base, kind: 'cancel', status: 'ended' } };
  }
}
