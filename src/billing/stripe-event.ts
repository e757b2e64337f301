import { z } from '@hono/zod-openapi';
import type { Policy } from '../config/policy.js';
import type { BillingChange, SubscriptionStatus, Translation } from './billing-change.js';
import { planOf } from './plan-lookup.js';

/**
 * Stripe events (https://docs.stripe.com/api/events), read as Stripe sends them to a webhook
 * endpoint, in every API version since prices (2020-08-27): before 2025-03-31.basil a
 * subscription carries `current_period_start/end` and an invoice `subscription`,
 * `subscription_details` and lines with `type`, `price` and `proration`; from basil on the
 * periods sit on the subscription items, and invoices and their lines name the subscription
 * under `parent` and the price under `pricing.price_details`. Only the fields read are
 * checked; everything else passes.
 */
export const stripeEventSchema = z
  .looseObject({
    id: z.string().min(1).max(255),
    type: z.string().min(1).max(100),
    created: z.number().int().nonnegative(),
    data: z.looseObject({ object: z.record(z.string(), z.unknown()) }),
  })
  .openapi('StripeEvent', { description: 'A Stripe event object, as Stripe POSTs it (snapshot payload)' });

export type StripeEvent = z.output<typeof stripeEventSchema>;

/** An id, or the object it names when expanded. */
const ref = z.union([z.string(), z.looseObject({ id: z.string() }).transform((o) => o.id)]);
const seconds = z.number().int().nonnegative();
const metadata = z.record(z.string(), z.string()).nullish();
const price = z.looseObject({ id: z.string(), product: ref.nullish() });

const subscriptionSchema = z.looseObject({
  id: z.string(),
  customer: ref,
  status: z.string(),
  created: seconds.optional(),
  start_date: seconds.optional(),
  metadata,
  current_period_start: seconds.optional(),
  current_period_end: seconds.optional(),
  items: z.looseObject({
    data: z.array(z.looseObject({ price: price.nullish(), current_period_start: seconds.optional(), current_period_end: seconds.optional() })),
  }),
});

const lineSchema = z.looseObject({
  type: z.string().optional(),
  proration: z.boolean().optional(),
  period: z.looseObject({ start: seconds, end: seconds }),
  price: price.nullish(),
  pricing: z.looseObject({ price_details: z.looseObject({ price: ref, product: z.string().optional() }).optional() }).nullish(),
  parent: z.looseObject({ type: z.string(), subscription_item_details: z.looseObject({ proration: z.boolean().optional() }).nullish() }).nullish(),
});

const invoiceSchema = z.looseObject({
  id: z.string(),
  customer: ref.nullish(),
  created: seconds,
  billing_reason: z.string().nullish(),
  period_end: seconds,
  subscription: ref.nullish(),
  subscription_details: z.looseObject({ metadata }).nullish(),
  parent: z.looseObject({ subscription_details: z.looseObject({ subscription: ref, metadata }).nullish() }).nullish(),
  lines: z.looseObject({ data: z.array(lineSchema) }),
});

/** Which Stripe subscription statuses keep the plan, end it, or say nothing yet. */
const STATUS: Record<string, SubscriptionStatus> = {
  active: 'live',
  trialing: 'live',
  past_due: 'live',
  incomplete: 'pending',
  incomplete_expired: 'ended',
  canceled: 'ended',
  unpaid: 'ended',
  paused: 'ended',
};
const SUBSCRIPTION_TYPES = [
  'customer.subscription.created',
  'customer.subscription.updated',
  'customer.subscription.deleted',
  'customer.subscription.paused',
  'customer.subscription.resumed',
];
const INVOICE_TYPES = ['invoice.paid', 'invoice.payment_succeeded'];
export const STRIPE_TYPES = [...SUBSCRIPTION_TYPES, ...INVOICE_TYPES];
/** Invoices that open a billing period: the first one, and each renewal. */
const PERIOD_REASONS = ['subscription_create', 'subscription_cycle'];

const ms = (s: number) => s * 1000;

/** A customer.subscription.* event: the subscription as it is at the event's `created`. */
function subscriptionChange(event: StripeEvent, policy: Policy): BillingChange {
  const sub = subscriptionSchema.parse(event.data.object);
  const key = policy.billing.subject_key;
  const items = sub.items.data.map((item) => ({ ...item, ids: { price: item.price?.id, product: item.price?.product ?? undefined } }));
  const { plan, prices, index } = planOf(
    policy.billing.stripe,
    items.map((i) => i.ids),
  );
  // Since 2025-03-31.basil the period sits on each item: the mapped item's, else the latest.
  const item = index === null ? [...items].sort((a, b) => (b.current_period_start ?? 0) - (a.current_period_start ?? 0))[0] : items[index];
  const start = sub.current_period_start ?? item?.current_period_start;
  const end = sub.current_period_end ?? item?.current_period_end ?? null;
  return {
    subscription: sub.id,
    ...(sub.metadata?.[key] !== undefined && { subject: sub.metadata[key] }),
    customer: sub.customer,
    fields: { subject: `data.object.metadata.${key}`, customer: 'data.object.customer' },
    at: ms(event.created),
    ...((sub.start_date ?? sub.created) !== undefined && { startedAt: ms((sub.start_date ?? sub.created)!) }),
    status: STATUS[sub.status] ?? 'pending',
    plan,
    prices,
    ...(start !== undefined && { period: { start: ms(start), end: end === null ? null : ms(end) } }),
    kind: event.type === 'customer.subscription.deleted' ? 'cancel' : 'update',
  };
}

/**
 * invoice.paid / invoice.payment_succeeded: a paid first or renewal invoice opens the period
 * of its subscription lines (an invoice's own period_start/end look one period back). Its
 * prices are the subscription's as of the invoice's creation, so that is the time it speaks for.
 */
function invoiceChange(event: StripeEvent, policy: Policy): Translation {
  const invoice = invoiceSchema.parse(event.data.object);
  if (!PERIOD_REASONS.includes(invoice.billing_reason ?? '')) {
    return { ignored: `billing_reason "${invoice.billing_reason ?? 'none'}" opens no period (quotagate acts on ${PERIOD_REASONS.join(' and ')} invoices)` };
  }
  const details = invoice.parent?.subscription_details;
  const subscription = details?.subscription ?? invoice.subscription;
  if (!subscription) return { ignored: 'the invoice is for no subscription' };
  const lines = invoice.lines.data.filter((l) =>
    l.parent ? l.parent.type === 'subscription_item_details' && !l.parent.subscription_item_details?.proration : l.type === 'subscription' && !l.proration,
  );
  const { plan, prices } = planOf(
    policy.billing.stripe,
    lines.map((l) => ({ price: l.pricing?.price_details?.price ?? l.price?.id, product: l.pricing?.price_details?.product ?? l.price?.product ?? undefined })),
  );
  const latest = [...lines].sort((a, b) => b.period.start - a.period.start)[0];
  const key = policy.billing.subject_key;
  const subject = (details?.metadata ?? invoice.subscription_details?.metadata)?.[key];
  return {
    change: {
      subscription,
      ...(subject !== undefined && { subject }),
      ...(invoice.customer && { customer: invoice.customer }),
      fields: { subject: `data.object.${details ? 'parent.subscription_details' : 'subscription_details'}.metadata.${key}`, customer: 'data.object.customer' },
      at: ms(invoice.created),
      status: 'live',
      plan,
      prices,
      period: latest ? { start: ms(latest.period.start), end: ms(latest.period.end) } : { start: ms(invoice.period_end), end: null },
      kind: 'renewal',
    },
  };
}

/** A Stripe event as a change of one subscription; throws a ZodError (paths under `data.object`) for a handled type it cannot read. */
export function translateStripeEvent(event: StripeEvent, policy: Policy): Translation {
  if (SUBSCRIPTION_TYPES.includes(event.type)) return { change: subscriptionChange(event, policy) };
  if (INVOICE_TYPES.includes(event.type)) return invoiceChange(event, policy);
  return { ignored: `quotagate acts on ${STRIPE_TYPES.join(', ')}` };
}
