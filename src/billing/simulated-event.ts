import { randomBytes, randomUUID } from 'node:crypto';
import type { Policy } from '../config/policy.js';
import { PADDLE_SCHEME, signPayload, STRIPE_SCHEME } from '../lib/hmac-signature.js';

/**
 * `quotagate billing simulate`: a realistic Stripe or Paddle event for one subject, signed
 * as the provider signs it, for trying the webhooks locally without the provider. The
 * shapes are those of Stripe's API since 2025-03-31.basil and of Paddle Billing.
 */

export const SIMULATED_TYPES = {
  stripe: ['invoice.paid', 'customer.subscription.created', 'customer.subscription.updated', 'customer.subscription.deleted'],
  paddle: ['transaction.completed', 'subscription.created', 'subscription.updated', 'subscription.canceled'],
} as const;
export type SimulatedProvider = keyof typeof SIMULATED_TYPES;

/** The Stripe API version whose shapes are simulated. */
export const SIMULATED_STRIPE_VERSION = '2025-03-31.basil';

export interface Simulation {
  provider: SimulatedProvider;
  type: string;
  subject: string;
  subjectKey: string;
  price: string;
  product: string;
  subscription: string;
  customer: string;
  /** Start of the billing period the event reports (ms). */
  periodStart: number;
  now: number;
}

const id = (prefix: string) => `${prefix}_sim${randomBytes(9).toString('hex')}`;

/** A Paddle price entity as notifications embed it. */
const paddlePrice = (o: Simulation) => ({
  id: o.price,
  product_id: o.product,
  name: 'quotagate simulation',
  description: 'quotagate simulation',
  type: 'standard',
  status: 'active',
  tax_mode: 'account_setting',
  billing_cycle: { interval: 'month', frequency: 1 },
  trial_period: null,
  unit_price: { amount: '2000', currency_code: 'USD' },
  unit_price_overrides: [],
  quantity: { minimum: 1, maximum: 100 },
  custom_data: null,
});
const s = (ms: number) => Math.floor(ms / 1000);
const MONTH_MS = 30 * 86_400_000;

function stripeSubscription(o: Simulation) {
  const ended = o.type === 'customer.subscription.deleted';
  return {
    id: o.subscription,
    object: 'subscription',
    billing_cycle_anchor: s(o.periodStart),
    cancel_at_period_end: false,
    canceled_at: ended ? s(o.now) : null,
    collection_method: 'charge_automatically',
    created: s(o.periodStart),
    currency: 'usd',
    customer: o.customer,
    ended_at: ended ? s(o.now) : null,
    items: {
      object: 'list',
      data: [
        {
          id: `si_${o.subscription.slice(4)}`,
          object: 'subscription_item',
          created: s(o.periodStart),
          current_period_end: s(o.periodStart + MONTH_MS),
          current_period_start: s(o.periodStart),
          metadata: {},
          price: {
            id: o.price,
            object: 'price',
            active: true,
            currency: 'usd',
            product: o.product,
            recurring: { interval: 'month', interval_count: 1, usage_type: 'licensed' },
            type: 'recurring',
            unit_amount: 2000,
          },
          quantity: 1,
          subscription: o.subscription,
        },
      ],
      has_more: false,
      total_count: 1,
      url: `/v1/subscription_items?subscription=${o.subscription}`,
    },
    livemode: false,
    metadata: { [o.subjectKey]: o.subject },
    start_date: s(o.periodStart),
    status: ended ? 'canceled' : 'active',
  };
}

function stripeInvoice(o: Simulation) {
  const invoice = id('in');
  return {
    id: invoice,
    object: 'invoice',
    amount_due: 2000,
    amount_paid: 2000,
    amount_remaining: 0,
    billing_reason: 'subscription_cycle',
    collection_method: 'charge_automatically',
    created: s(o.periodStart),
    currency: 'usd',
    customer: o.customer,
    lines: {
      object: 'list',
      data: [
        {
          id: id('il'),
          object: 'line_item',
          amount: 2000,
          currency: 'usd',
          description: '1 × quotagate simulation (at $20.00 / month)',
          invoice,
          metadata: {},
          parent: {
            invoice_item_details: null,
            subscription_item_details: {
              invoice_item: null,
              proration: false,
              proration_details: { credited_items: null },
              subscription: o.subscription,
              subscription_item: `si_${o.subscription.slice(4)}`,
            },
            type: 'subscription_item_details',
          },
          period: { end: s(o.periodStart + MONTH_MS), start: s(o.periodStart) },
          pricing: { price_details: { price: o.price, product: o.product }, type: 'price_details', unit_amount_decimal: '2000' },
          quantity: 1,
        },
      ],
      has_more: false,
      total_count: 1,
      url: `/v1/invoices/${invoice}/lines`,
    },
    livemode: false,
    metadata: {},
    parent: { quote_details: null, subscription_details: { metadata: { [o.subjectKey]: o.subject }, subscription: o.subscription }, type: 'subscription_details' },
    period_end: s(o.periodStart),
    period_start: s(o.periodStart - MONTH_MS),
    status: 'paid',
  };
}

function paddleSubscription(o: Simulation) {
  const canceled = o.type === 'subscription.canceled';
  const period = { starts_at: new Date(o.periodStart).toISOString(), ends_at: new Date(o.periodStart + MONTH_MS).toISOString() };
  return {
    id: o.subscription,
    status: canceled ? 'canceled' : 'active',
    customer_id: o.customer,
    currency_code: 'USD',
    created_at: period.starts_at,
    updated_at: new Date(o.now).toISOString(),
    started_at: period.starts_at,
    first_billed_at: period.starts_at,
    next_billed_at: canceled ? null : period.ends_at,
    canceled_at: canceled ? new Date(o.now).toISOString() : null,
    collection_mode: 'automatic',
    billing_cycle: { interval: 'month', frequency: 1 },
    current_billing_period: canceled ? null : period,
    scheduled_change: null,
    items: [
      {
        status: 'active',
        quantity: 1,
        recurring: true,
        price: paddlePrice(o),
      },
    ],
    custom_data: { [o.subjectKey]: o.subject },
  };
}

function paddleTransaction(o: Simulation) {
  const at = new Date(o.periodStart).toISOString();
  return {
    id: id('txn'),
    status: 'completed',
    origin: 'subscription_recurring',
    subscription_id: o.subscription,
    customer_id: o.customer,
    currency_code: 'USD',
    collection_mode: 'automatic',
    created_at: at,
    updated_at: new Date(o.now).toISOString(),
    billed_at: at,
    billing_period: { starts_at: at, ends_at: new Date(o.periodStart + MONTH_MS).toISOString() },
    items: [{ price: paddlePrice(o), quantity: 1, proration: null }],
    details: null,
    payments: [
      {
        amount: '2000',
        status: 'captured',
        created_at: at,
        captured_at: at,
        error_code: null,
        method_details: { type: 'card', card: { type: 'visa', last4: '4242', expiry_month: 12, expiry_year: 2030, cardholder_name: 'quotagate simulation' } },
        payment_attempt_id: randomUUID(),
        stored_payment_method_id: randomUUID(),
      },
    ],
    checkout: null,
    billing_details: null,
    address_id: null,
    business_id: null,
    discount_id: null,
    invoice_id: null,
    invoice_number: null,
    custom_data: { [o.subjectKey]: o.subject },
  };
}

/** The event's JSON body. */
export function simulatedEvent(o: Simulation): string {
  if (o.provider === 'stripe') {
    const object = o.type === 'invoice.paid' ? stripeInvoice(o) : stripeSubscription(o);
    return JSON.stringify({
      id: id('evt'),
      object: 'event',
      api_version: SIMULATED_STRIPE_VERSION,
      created: s(o.now),
      data: { object },
      livemode: false,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      type: o.type,
    });
  }
  const data = o.type === 'transaction.completed' ? paddleTransaction(o) : paddleSubscription(o);
  return JSON.stringify({ event_id: id('evt'), event_type: o.type, occurred_at: new Date(o.now).toISOString(), notification_id: id('ntf'), data });
}

/** The signature header (name and value) for `body`, as the provider makes it. */
export function simulatedSignature(provider: SimulatedProvider, secret: string, body: string, now: number): [string, string] {
  return provider === 'stripe'
    ? ['stripe-signature', signPayload(secret, body, now / 1000, STRIPE_SCHEME)]
    : ['paddle-signature', signPayload(secret, body, now / 1000, PADDLE_SCHEME)];
}

/**
 * The price (and product) to simulate: `price` as given; else one the policy maps to `plan`
 * (a price id, or a made-up price of a mapped product); else one that maps to nothing, so
 * the plan stays and only the period moves.
 */
export function simulatedPrice(policy: Policy, provider: SimulatedProvider, want: { price?: string; plan?: string }): { price: string; product: string } | { error: string } {
  if (want.price !== undefined) return { price: want.price, product: `prod_sim_${want.price}` };
  const plans = policy.billing[provider];
  if (want.plan === undefined) return { price: 'price_quotagate_simulated', product: 'prod_quotagate_simulated' };
  const price = Object.entries(plans.prices).find(([, plan]) => plan === want.plan)?.[0];
  if (price !== undefined) return { price, product: `prod_sim_${price}` };
  const product = Object.entries(plans.products).find(([, plan]) => plan === want.plan)?.[0];
  if (product !== undefined) return { price: 'price_quotagate_simulated', product };
  return { error: `no price or product maps to plan "${want.plan}" in billing.${provider} of the policy; give --price` };
}
