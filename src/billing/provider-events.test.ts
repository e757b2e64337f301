import { describe, expect, it } from 'vitest';
import { ZodError } from 'zod';
import {
  billingTestPolicy,
  paddleEvent,
  paddleSubscription,
  paddleTransaction,
  stripeEvent,
  stripeInvoice,
  stripeSubscription,
  STRIPE_VERSIONS,
} from '../../test/support/billing-events.js';
import { parsePolicy } from '../config/load-policy.js';
import type { BillingChange, Translation } from './billing-change.js';
import { paddleEventSchema, translatePaddleEvent } from './paddle-event.js';
import { stripeEventSchema, translateStripeEvent } from './stripe-event.js';

/** The translators on provider-shaped events: what each reads, and from where in each API version. */

const policy = parsePolicy(billingTestPolicy('http://127.0.0.1:9'));
const T = Date.UTC(2030, 4, 14, 10, 0, 0);
const stripe = (event: object) => translateStripeEvent(stripeEventSchema.parse(event), policy);
const paddle = (event: object) => translatePaddleEvent(paddleEventSchema.parse(event), policy);
const change = (t: Translation): BillingChange => {
  if (!('change' in t)) throw new Error(`ignored: ${t.ignored}`);
  return t.change;
};

describe.each(STRIPE_VERSIONS)('Stripe %s', (version) => {
  const ids = { id: 'sub_1', customer: 'cus_1' };

  it('reads a subscription: subject, customer, plan by price, period (on the subscription or its item), status and start', () => {
    const sub = stripeSubscription(version, { ...ids, subject: 'org_1', price: 'price_pro_monthly', periodStart: T, startedAt: T - 86_400_000 });
    expect(change(stripe(stripeEvent(version, 'customer.subscription.updated', sub, T + 5_000)))).toEqual({
      subscription: 'sub_1',
      subject: 'org_1',
      customer: 'cus_1',
      fields: { subject: 'data.object.metadata.quotagate_subject', customer: 'data.object.customer' },
      at: T + 5_000,
      startedAt: T - 86_400_000,
      status: 'live',
      plan: 'pro',
      prices: ['price_pro_monthly'],
      period: { start: T, end: T + 30 * 86_400_000 },
      kind: 'update',
    });
  });

  it('maps statuses: incomplete says nothing yet, unpaid and canceled end the plan; deleted is a cancellation', () => {
    const as = (status: string, type = 'customer.subscription.updated') =>
      change(stripe(stripeEvent(version, type, stripeSubscription(version, { ...ids, price: 'x', periodStart: T, status }), T)));
    expect(as('incomplete').status).toBe('pending');
    expect(as('trialing').status).toBe('live');
    expect(as('unpaid').status).toBe('ended');
    expect(as('canceled', 'customer.subscription.deleted')).toMatchObject({ status: 'ended', kind: 'cancel', plan: null, prices: ['x'] });
  });

  it('reads a renewal invoice: the line period (not the invoice period), the price, the subject copied from the subscription, its creation time', () => {
    const invoice = stripeInvoice(version, {
      id: 'in_1',
      subscription: 'sub_1',
      customer: 'cus_1',
      subject: 'org_1',
      price: 'price_starter_monthly',
      periodStart: T,
      created: T + 1_000,
    });
    expect(change(stripe(stripeEvent(version, 'invoice.paid', invoice, T + 3_600_000)))).toMatchObject({
      subscription: 'sub_1',
      subject: 'org_1',
      at: T + 1_000,
      plan: 'starter',
      period: { start: T, end: T + 30 * 86_400_000 },
      kind: 'renewal',
    });
  });

  it('skips proration lines, and falls back to the invoice period_end when no subscription line is left', () => {
    const invoice = stripeInvoice(version, { id: 'in_1', subscription: 'sub_1', customer: 'cus_1', price: 'price_pro_monthly', periodStart: T });
    const line = invoice.lines.data[0];
    if (version === '2024-06-20') line.proration = true;
    else line.parent.subscription_item_details.proration = true;
    expect(change(stripe(stripeEvent(version, 'invoice.paid', invoice, T)))).toMatchObject({ period: { start: T, end: null }, prices: [] });
  });

  it('ignores invoices that open no period or belong to no subscription; refuses one it cannot read, naming the field', () => {
    const invoice = (over: object) => ({ ...stripeInvoice(version, { id: 'in_1', subscription: 'sub_1', customer: 'cus_1', price: 'p', periodStart: T }), ...over });
    expect(stripe(stripeEvent(version, 'invoice.paid', invoice({ billing_reason: 'manual' }), T))).toEqual({
      ignored: expect.stringMatching(/billing_reason "manual" opens no period/),
    });
    const orphan = invoice({ subscription: null, parent: null });
    expect(stripe(stripeEvent(version, 'invoice.paid', orphan, T))).toEqual({ ignored: 'the invoice is for no subscription' });
    const broken = invoice({ lines: { data: [{ period: { start: 'yesterday' } }] } });
    try {
      stripe(stripeEvent(version, 'invoice.paid', broken, T));
      expect.unreachable();
    } catch (err) {
      expect((err as ZodError).issues[0]!.path).toEqual(['lines', 'data', 0, 'period', 'start']);
    }
  });
});

describe('Paddle', () => {
  it('reads a subscription as of occurred_at; a product mapping counts; canceled ends it without a period', () => {
    const sub = paddleSubscription({ id: 'sub_01', customer: 'ctm_01', subject: 'org_1', price: 'pri_x', product: 'pro_basic', periodStart: T });
    expect(change(paddle(paddleEvent('subscription.updated', sub, T + 7)))).toMatchObject({
      subscription: 'sub_01',
      subject: 'org_1',
      customer: 'ctm_01',
      at: T + 7,
      status: 'live',
      plan: 'basic',
      period: { start: T, end: T + 30 * 86_400_000 },
      kind: 'update',
    });
    const canceled = change(
      paddle(paddleEvent('subscription.canceled', paddleSubscription({ id: 'sub_01', customer: 'ctm_01', price: 'pri_x', periodStart: T, status: 'canceled' }), T)),
    );
    expect(canceled).toMatchObject({ status: 'ended', kind: 'cancel' });
    expect(canceled.period).toBeUndefined();
  });

  it('reads a renewal transaction as of its creation; a numeric subject in custom_data counts', () => {
    const txn = {
      ...paddleTransaction({ id: 'txn_01', subscription: 'sub_01', customer: 'ctm_01', price: 'pri_starter_monthly', periodStart: T, created: T + 2_000 }),
      custom_data: { quotagate_subject: 42 },
    };
    expect(change(paddle(paddleEvent('transaction.completed', txn, T + 60_000)))).toMatchObject({
      subscription: 'sub_01',
      subject: '42',
      at: T + 2_000,
      plan: 'starter',
      period: { start: T },
      kind: 'renewal',
    });
  });

  it('ignores transactions of other origins, without a subscription or without a billing period', () => {
    const txn = (over: object) => ({ ...paddleTransaction({ id: 'txn_01', subscription: 'sub_01', customer: 'ctm_01', price: 'p', periodStart: T }), ...over });
    expect(paddle(paddleEvent('transaction.completed', txn({ origin: 'subscription_charge' }), T))).toEqual({ ignored: expect.stringMatching(/origin "subscription_charge"/) });
    expect(paddle(paddleEvent('transaction.completed', txn({ origin: 'web', subscription_id: null }), T))).toEqual({ ignored: 'the transaction is for no subscription' });
    expect(paddle(paddleEvent('transaction.completed', txn({ billing_period: null }), T))).toEqual({ ignored: 'the transaction has no billing_period' });
    expect(paddle(paddleEvent('address.created', { id: 'add_01' }, T))).toEqual({ ignored: expect.stringMatching(/^quotagate acts on subscription\.created/) });
  });
});
