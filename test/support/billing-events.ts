import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Paddle } from '@paddle/paddle-node-sdk';
import Stripe from 'stripe';
import type { PolicyInput } from '../../src/config/policy.js';
import { signPayload } from '../../src/lib/hmac-signature.js';
import { gatewayTestPolicy, TEST_WEBHOOK_SECRET } from './gateway.js';

/**
 * Provider events for tests, built from objects as Stripe and Paddle render them
 * (test/fixtures/billing: a Stripe subscription and invoice per API version, Paddle Billing's
 * subscription and transaction entities), with the ids, times, prices and subject of a test
 * written in. Signed with Stripe's own library, and the Paddle way, checked by Paddle's SDK.
 */

export const STRIPE_SECRET = 'whsec_test_stripe_secret_0123456789';
export const PADDLE_SECRET = 'pdl_ntfset_01test_paddle_secret_0123456789';
export const SUBJECT_KEY = 'quotagate_subject';
export const STRIPE_VERSIONS = ['2024-06-20', '2025-03-31.basil'] as const;
export type StripeVersion = (typeof STRIPE_VERSIONS)[number];

/** Stripe's client, for its webhook helpers only (no request is ever sent). */
export const stripe = new Stripe('sk_test_quotagate_never_used');
/** Paddle's client, for its webhook verification only. */
export const paddle = new Paddle('pdl_sdbx_apikey_quotagate_never_used');

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, read field by field by the assertions
type Json = Record<string, any>;
const fixture = (path: string): Json => JSON.parse(readFileSync(new URL(`../fixtures/billing/${path}`, import.meta.url), 'utf8'));
const seconds = (ms: number) => Math.floor(ms / 1000);
const MONTH = 30 * 86_400_000;

/**
 * gatewayTestPolicy with plans a billing test moves between — `starter` allows 2,000 gens,
 * `basic` 3 projects, `pro` 10 — and Stripe and Paddle prices and products mapped onto them.
 */
export const billingTestPolicy = (upstream: string): PolicyInput => {
  const base = gatewayTestPolicy(upstream);
  return {
    ...base,
    plans: {
      ...base.plans,
      basic: { limits: { gens: 10, tokens: 1_000, exports: 1, projects: 3 } },
      starter: { limits: { gens: 2_000, tokens: 100_000, exports: 10, projects: 5 } },
      pro: { limits: { gens: 10_000, tokens: 1_000_000, exports: 100, projects: 10 } },
    },
    default_plan: 'test',
    billing: {
      subject_key: SUBJECT_KEY,
      stripe: { prices: { price_starter_monthly: 'starter', price_pro_monthly: 'pro' }, products: { prod_basic: 'basic' } },
      paddle: { prices: { pri_starter_monthly: 'starter', pri_pro_monthly: 'pro' }, products: { pro_basic: 'basic' } },
    },
  };
};

export interface SubscriptionSpec {
  id: string;
  customer: string;
  /** Written into metadata / custom_data; leave out to find the subject by customer. */
  subject?: string;
  price: string;
  product?: string;
  status?: string;
  periodStart: number;
  periodEnd?: number;
  startedAt?: number;
}

/** A Stripe subscription as `version` renders it. */
export function stripeSubscription(version: StripeVersion, spec: SubscriptionSpec): Json {
  const sub = fixture(`stripe/${version}/subscription.json`);
  const start = seconds(spec.periodStart);
  const end = seconds(spec.periodEnd ?? spec.periodStart + MONTH);
  Object.assign(sub, {
    id: spec.id,
    customer: spec.customer,
    status: spec.status ?? 'active',
    metadata: spec.subject === undefined ? {} : { [SUBJECT_KEY]: spec.subject },
    created: seconds(spec.startedAt ?? spec.periodStart),
    start_date: seconds(spec.startedAt ?? spec.periodStart),
    billing_cycle_anchor: start,
  });
  if (spec.status === 'canceled') Object.assign(sub, { canceled_at: seconds(Date.now()), ended_at: seconds(Date.now()) });
  const item = sub.items.data[0];
  Object.assign(item.price, { id: spec.price, product: spec.product ?? `prod_of_${spec.price}` });
  Object.assign(item.plan, { id: spec.price, product: spec.product ?? `prod_of_${spec.price}` });
  item.subscription = spec.id;
  sub.items.url = `/v1/subscription_items?subscription=${spec.id}`;
  // Before 2025-03-31.basil the period is the subscription's; from basil on, each item's.
  if (version === '2024-06-20') Object.assign(sub, { current_period_start: start, current_period_end: end, plan: { ...sub.plan, id: spec.price } });
  else Object.assign(item, { current_period_start: start, current_period_end: end });
  return sub;
}

export interface InvoiceSpec {
  id: string;
  subscription: string;
  customer: string;
  subject?: string;
  price: string;
  product?: string;
  /** The new period the invoice's subscription line opens. */
  periodStart: number;
  /** When the invoice was created (ms); default: the period start. */
  created?: number;
  billingReason?: string;
}

/** A paid Stripe invoice as `version` renders it. */
export function stripeInvoice(version: StripeVersion, spec: InvoiceSpec): Json {
  const invoice = fixture(`stripe/${version}/invoice.json`);
  const metadata = spec.subject === undefined ? {} : { [SUBJECT_KEY]: spec.subject };
  const line = invoice.lines.data[0];
  Object.assign(invoice, {
    id: spec.id,
    customer: spec.customer,
    billing_reason: spec.billingReason ?? 'subscription_cycle',
    created: seconds(spec.created ?? spec.periodStart),
    // An invoice's own period looks one period back; its line's period is the one it opens.
    period_start: seconds(spec.periodStart - MONTH),
    period_end: seconds(spec.periodStart),
  });
  line.period = { start: seconds(spec.periodStart), end: seconds(spec.periodStart + MONTH) };
  line.invoice = spec.id;
  const product = spec.product ?? `prod_of_${spec.price}`;
  if (version === '2024-06-20') {
    Object.assign(invoice, { subscription: spec.subscription, subscription_details: { metadata } });
    Object.assign(line, { subscription: spec.subscription, price: { ...line.price, id: spec.price, product }, plan: { ...line.plan, id: spec.price, product } });
  } else {
    invoice.parent.subscription_details = { metadata, subscription: spec.subscription };
    line.parent.subscription_item_details.subscription = spec.subscription;
    line.pricing.price_details = { price: spec.price, product };
  }
  return invoice;
}

let sequence = 0;
export const uniqueId = (prefix: string) => `${prefix}_${process.pid}${Date.now().toString(36)}${++sequence}`;

/** A Stripe event envelope (snapshot payload) around `object`. */
export function stripeEvent(version: StripeVersion, type: string, object: Json, created: number, id = uniqueId('evt')): Json {
  return {
    id,
    object: 'event',
    api_version: version,
    created: seconds(created),
    data: { object },
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type,
  };
}

/** A Stripe-Signature header made by Stripe's own library. */
export const stripeSignature = (payload: string, secret = STRIPE_SECRET, timestamp = seconds(Date.now())) =>
  stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp });

/** A Paddle subscription entity. */
export function paddleSubscription(spec: SubscriptionSpec): Json {
  const sub = fixture('paddle/subscription.json');
  const period = { starts_at: new Date(spec.periodStart).toISOString(), ends_at: new Date(spec.periodEnd ?? spec.periodStart + MONTH).toISOString() };
  const status = spec.status ?? 'active';
  Object.assign(sub, {
    id: spec.id,
    customer_id: spec.customer,
    status,
    custom_data: spec.subject === undefined ? null : { [SUBJECT_KEY]: spec.subject },
    started_at: new Date(spec.startedAt ?? spec.periodStart).toISOString(),
    created_at: new Date(spec.startedAt ?? spec.periodStart).toISOString(),
    // Paddle clears the billing period of a canceled subscription.
    current_billing_period: status === 'canceled' ? null : period,
    canceled_at: status === 'canceled' ? new Date().toISOString() : null,
    next_billed_at: status === 'canceled' ? null : period.ends_at,
  });
  Object.assign(sub.items[0].price, { id: spec.price, product_id: spec.product ?? `pro_of_${spec.price}` });
  return sub;
}

export interface TransactionSpec {
  id: string;
  subscription: string;
  customer: string;
  subject?: string;
  price: string;
  origin?: string;
  periodStart: number;
  /** When the transaction was created (ms); default: the period start. */
  created?: number;
}

/** A completed Paddle transaction entity. */
export function paddleTransaction(spec: TransactionSpec): Json {
  const txn = fixture('paddle/transaction.json');
  const created = new Date(spec.created ?? spec.periodStart).toISOString();
  Object.assign(txn, {
    id: spec.id,
    origin: spec.origin ?? 'subscription_recurring',
    subscription_id: spec.subscription,
    customer_id: spec.customer,
    custom_data: spec.subject === undefined ? null : { [SUBJECT_KEY]: spec.subject },
    created_at: created,
    billed_at: created,
    updated_at: created,
    billing_period: { starts_at: new Date(spec.periodStart).toISOString(), ends_at: new Date(spec.periodStart + MONTH).toISOString() },
  });
  Object.assign(txn.items[0].price, { id: spec.price, product_id: `pro_of_${spec.price}` });
  txn.details.line_items[0].price_id = spec.price;
  return txn;
}

/** A Paddle notification envelope around `data`; occurred_at with Paddle's microseconds. */
export function paddleEvent(type: string, data: Json, occurredAt: number, id = uniqueId('evt')): Json {
  return { event_id: id, event_type: type, occurred_at: new Date(occurredAt).toISOString().replace('Z', '123Z'), notification_id: uniqueId('ntf'), data };
}

/** A Paddle-Signature header: `ts=<unix>;h1=<HMAC-SHA256 of "<ts>:<body>">`, one h1 per secret (as during Paddle's rotation). */
export function paddleSignature(body: string, secrets: readonly string[] = [PADDLE_SECRET], ts = seconds(Date.now())): string {
  return [`ts=${ts}`, ...secrets.map((s) => `h1=${createHmac('sha256', s).update(`${ts}:${body}`).digest('hex')}`)].join(';');
}

export type Source = 'stripe' | 'paddle' | 'quotagate';
const ENDPOINT: Record<Source, { path: string; header: string }> = {
  stripe: { path: '/webhooks/stripe', header: 'stripe-signature' },
  paddle: { path: '/webhooks/paddle', header: 'paddle-signature' },
  quotagate: { path: '/webhooks/billing', header: 'quotagate-signature' },
};

/** The signature each source's sender makes (quotagate's own format: the gateway fixture's WEBHOOK_SECRET). */
export function signatureFor(source: Source, body: string): string {
  if (source === 'stripe') return stripeSignature(body);
  if (source === 'paddle') return paddleSignature(body);
  return signPayload(TEST_WEBHOOK_SECRET, body, Date.now() / 1000);
}

/** POSTs `event` (an object, or the exact body) to the source's endpoint, signed as its sender signs unless `header` is given. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, read field by field by the assertions
export async function deliverEvent(gateway: string, source: Source, event: object | string, header?: string): Promise<{ status: number; body: Record<string, any> }> {
  const body = typeof event === 'string' ? event : JSON.stringify(event);
  const { path, header: name } = ENDPOINT[source];
  const res = await fetch(`${gateway}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', [name]: header ?? signatureFor(source, body) }, body });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, read field by field by the assertions
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}
