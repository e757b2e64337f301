import { z } from '@hono/zod-openapi';
import type { Policy } from '../config/policy.js';
import { isoDateTimeSchema as iso } from '../lib/iso-time.js';
import type { BillingChange, SubscriptionStatus, Translation } from './billing-change.js';
import { planOf } from './plan-lookup.js';

/**
 * Paddle Billing notifications (https://developer.paddle.com/webhooks/overview), read as
 * Paddle sends them: `{event_id, event_type, occurred_at, notification_id, data}` with the
 * subscription or transaction entity as `data`. Only the fields read are checked.
 */
export const paddleEventSchema = z
  .looseObject({
    event_id: z.string().min(1).max(255),
    event_type: z.string().min(1).max(100),
    occurred_at: iso,
    data: z.record(z.string(), z.unknown()),
  })
  .openapi('PaddleEvent', { description: 'A Paddle Billing notification, as Paddle POSTs it' });

export type PaddleEvent = z.output<typeof paddleEventSchema>;

const customData = z.record(z.string(), z.unknown()).nullish();
const price = z.looseObject({ id: z.string(), product_id: z.string().nullish() });
const period = z.looseObject({ starts_at: iso, ends_at: iso.nullish() });

const subscriptionSchema = z.looseObject({
  id: z.string(),
  status: z.string(),
  customer_id: z.string(),
  custom_data: customData,
  started_at: iso.nullish(),
  created_at: iso.optional(),
  current_billing_period: period.nullish(),
  items: z.array(z.looseObject({ price })),
});

const transactionSchema = z.looseObject({
  id: z.string(),
  origin: z.string(),
  subscription_id: z.string().nullish(),
  customer_id: z.string().nullish(),
  custom_data: customData,
  created_at: iso,
  billing_period: period.nullish(),
  items: z.array(z.looseObject({ price: price.optional(), price_id: z.string().optional() })),
});

/** Which Paddle subscription statuses keep the plan, end it, or say nothing yet. */
const STATUS: Record<string, SubscriptionStatus> = { active: 'live', trialing: 'live', past_due: 'live', paused: 'ended', canceled: 'ended' };
const SUBSCRIPTION_TYPES = [
  'subscription.created',
  'subscription.updated',
  'subscription.canceled',
  'subscription.activated',
  'subscription.trialing',
  'subscription.past_due',
  'subscription.paused',
  'subscription.resumed',
];
export const PADDLE_TYPES = [...SUBSCRIPTION_TYPES, 'transaction.completed'];
/** Transactions that open a billing period: a renewal, and the checkout that creates a subscription. */
const PERIOD_ORIGINS = ['subscription_recurring', 'web', 'api'];

/** The subject named in custom_data (a string, or a number written as one). */
function subjectIn(data: Record<string, unknown> | null | undefined, key: string): string | undefined {
  const value = data?.[key];
  return typeof value === 'string' || typeof value === 'number' ? String(value) : undefined;
}

const toPeriod = (p: { starts_at: string; ends_at?: string | null | undefined }) => ({ start: Date.parse(p.starts_at), end: p.ends_at ? Date.parse(p.ends_at) : null });

/** A subscription.* event: the subscription as it is at the event's `occurred_at`. */
function subscriptionChange(event: PaddleEvent, policy: Policy): BillingChange {
  const sub = subscriptionSchema.parse(event.data);
  const key = policy.billing.subject_key;
  const { plan, prices } = planOf(
    policy.billing.paddle,
    sub.items.map((i) => ({ price: i.price.id, product: i.price.product_id ?? undefined })),
  );
  const subject = subjectIn(sub.custom_data, key);
  const started = sub.started_at ?? sub.created_at;
  return {
    subscription: sub.id,
    ...(subject !== undefined && { subject }),
    customer: sub.customer_id,
    fields: { subject: `data.custom_data.${key}`, customer: 'data.customer_id' },
    at: Date.parse(event.occurred_at),
    ...(started && { startedAt: Date.parse(started) }),
    status: STATUS[sub.status] ?? 'pending',
    plan,
    prices,
    ...(sub.current_billing_period && { period: toPeriod(sub.current_billing_period) }),
    kind: event.event_type === 'subscription.canceled' ? 'cancel' : 'update',
  };
}

/**
 * transaction.completed: a paid renewal (origin subscription_recurring) or checkout opens its
 * billing_period. Its items are the subscription's as of the transaction's creation, so that
 * is the time it speaks for.
 */
function transactionChange(event: PaddleEvent, policy: Policy): Translation {
  const txn = transactionSchema.parse(event.data);
  if (!PERIOD_ORIGINS.includes(txn.origin)) return { ignored: `origin "${txn.origin}" opens no period (quotagate acts on ${PERIOD_ORIGINS.join(', ')} transactions)` };
  if (!txn.subscription_id) return { ignored: 'the transaction is for no subscription' };
  if (!txn.billing_period) return { ignored: 'the transaction has no billing_period' };
  const key = policy.billing.subject_key;
  const { plan, prices } = planOf(
    policy.billing.paddle,
    txn.items.map((i) => ({ price: i.price?.id ?? i.price_id, product: i.price?.product_id ?? undefined })),
  );
  const subject = subjectIn(txn.custom_data, key);
  return {
    change: {
      subscription: txn.subscription_id,
      ...(subject !== undefined && { subject }),
      ...(txn.customer_id && { customer: txn.customer_id }),
      fields: { subject: `data.custom_data.${key}`, customer: 'data.customer_id' },
      at: Date.parse(txn.created_at),
      status: 'live',
      plan,
      prices,
      period: toPeriod(txn.billing_period),
      kind: 'renewal',
    },
  };
}

/** A Paddle notification as a change of one subscription; throws a ZodError (paths under `data`) for a handled type it cannot read. */
export function translatePaddleEvent(event: PaddleEvent, policy: Policy): Translation {
  if (SUBSCRIPTION_TYPES.includes(event.event_type)) return { change: subscriptionChange(event, policy) };
  if (event.event_type === 'transaction.completed') return transactionChange(event, policy);
  return { ignored: `quotagate acts on ${PADDLE_TYPES.join(', ')}` };
}
