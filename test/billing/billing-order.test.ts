import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  billingTestPolicy,
  deliverEvent,
  PADDLE_SECRET,
  paddleEvent,
  paddleSubscription,
  paddleTransaction,
  STRIPE_SECRET,
  stripeEvent,
  stripeInvoice,
  stripeSubscription,
  uniqueId,
  type Source,
} from '../support/billing-events.js';
import { startGatewayFixture, type GatewayFixture, type TestSubject } from '../support/gateway.js';

/**
 * SPEC invariant 16: billing events apply by effect, not by arrival. Each pair below is
 * delivered in the order a provider may well use — the later event first — and must end
 * where the in-order delivery ends.
 */

let f: GatewayFixture;
beforeAll(async () => {
  f = await startGatewayFixture({ policy: billingTestPolicy, env: { STRIPE_WEBHOOK_SECRET: STRIPE_SECRET, PADDLE_WEBHOOK_SECRET: PADDLE_SECRET } });
});
afterAll(() => f?.close());

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, read field by field by the assertions
type Result = Record<string, any>;
const MINUTE = 60_000;
const version = '2025-03-31.basil';
const iso = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString();

async function deliver(source: Source, event: object): Promise<Result> {
  const { status, body } = await deliverEvent(f.url, source, event);
  expect(status).toBe(200);
  return body.result;
}

const stripe = (event: object) => deliver('stripe', event);
const paddle = (event: object) => deliver('paddle', event);
const quotagate = (event: object) => deliver('quotagate', event);

const subjectView = async (s: TestSubject) => {
  const detail = (await (await f.admin(`/admin/v1/subjects/${s.id}`)).json()) as { plan: string; anchor: string | null; metrics: { metric: string; used: number }[] };
  return { plan: detail.plan, anchor: detail.anchor, gens: detail.metrics.find((m) => m.metric === 'gens')!.used };
};

async function consume(s: TestSubject, amount: number) {
  expect((await f.request('/v1/consume', { method: 'POST', key: s.key, json: { charges: [{ metric: 'gens', amount }] } })).status).toBe(200);
}

/**
 * One Stripe subscription of `s` renewed on starter 20 minutes ago (its invoice.paid, sent
 * now) and moved to pro ten minutes after the renewal (its customer.subscription.updated).
 */
function renewalThenUpgrade(s: TestSubject) {
  const ids = { id: uniqueId('sub'), customer: uniqueId('cus'), subject: s.id };
  const renewal = Date.now() - 20 * MINUTE;
  const invoice = stripeEvent(
    version,
    'invoice.paid',
    stripeInvoice(version, { id: uniqueId('in'), subscription: ids.id, customer: ids.customer, subject: s.id, price: 'price_starter_monthly', periodStart: renewal }),
    Date.now(),
  );
  const upgraded = stripeEvent(
    version,
    'customer.subscription.updated',
    stripeSubscription(version, { ...ids, price: 'price_pro_monthly', periodStart: renewal }),
    renewal + 10 * MINUTE,
  );
  return { renewal, invoice, upgraded };
}

describe('out-of-order pairs', () => {
  it('Stripe: an older customer.subscription.updated after a newer one changes nothing and says so', async () => {
    const s = await f.createSubject({ plan: 'test' });
    const ids = { id: uniqueId('sub'), customer: uniqueId('cus'), subject: s.id };
    const periodStart = Date.now() - 30 * MINUTE;
    const older = stripeEvent(
      version,
      'customer.subscription.updated',
      stripeSubscription(version, { ...ids, price: 'price_starter_monthly', periodStart }),
      Date.now() - 2 * MINUTE,
    );
    const newer = stripeEvent(version, 'customer.subscription.updated', stripeSubscription(version, { ...ids, price: 'price_pro_monthly', periodStart }), Date.now() - MINUTE);
    expect(await stripe(newer)).toMatchObject({ status: 'applied', plan: 'pro' });
    const late = await stripe(older);
    expect(late).toMatchObject({
      status: 'stale',
      plan: 'pro',
      notes: [
        expect.stringMatching(/^state: the subscription's state as of .* is newer than this event's/),
        expect.stringMatching(/^period: the period from .* is already applied/),
      ],
    });
    expect((await subjectView(s)).plan).toBe('pro');
    // The record says so too.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, read field by field by the assertions
    const stale = (await (await f.admin(`/admin/v1/billing/events?subject=${s.id}&status=stale`)).json()) as { items: Record<string, any>[] };
    expect(stale.items).toEqual([
      expect.objectContaining({ provider: 'stripe', id: older.id, type: 'customer.subscription.updated', result: expect.objectContaining({ status: 'stale' }) }),
    ]);
    const all = (await (await f.admin(`/admin/v1/billing/events?subject=${s.id}&limit=1`)).json()) as { items: { id: string }[]; next_cursor: string };
    expect(all.items.map((e) => e.id)).toEqual([older.id]);
    const next = (await (await f.admin(`/admin/v1/billing/events?subject=${s.id}&limit=1&cursor=${all.next_cursor}`)).json()) as { items: { id: string }[] };
    expect(next.items.map((e) => e.id)).toEqual([newer.id]);
  });

  it('Stripe: a late renewal invoice (created before a plan change) renews nothing twice and does not undo the plan change', async () => {
    const s = await f.createSubject({ plan: 'test' });
    const { renewal, invoice, upgraded } = renewalThenUpgrade(s);
    expect(await stripe(upgraded)).toMatchObject({ status: 'applied', plan: 'pro', anchor: iso(renewal) });
    await consume(s, 7);
    expect(await stripe(invoice)).toMatchObject({ status: 'stale', plan: 'pro' });
    expect(await subjectView(s)).toEqual({ plan: 'pro', anchor: iso(renewal), gens: 7 });
  });

  it('Stripe: canceled, then a late renewal of the same subscription — the subject stays on the default plan and its period stays', async () => {
    const s = await f.createSubject({ plan: 'test' });
    const ids = { id: uniqueId('sub'), customer: uniqueId('cus'), subject: s.id };
    const started = Date.now() - 40 * MINUTE;
    expect(
      await stripe(stripeEvent(version, 'customer.subscription.created', stripeSubscription(version, { ...ids, price: 'price_pro_monthly', periodStart: started }), started)),
    ).toMatchObject({ plan: 'pro' });
    const renewal = Date.now() - 10 * MINUTE;
    const deleted = stripeEvent(
      version,
      'customer.subscription.deleted',
      stripeSubscription(version, { ...ids, price: 'price_pro_monthly', periodStart: started, status: 'canceled' }),
      Date.now() - MINUTE,
    );
    expect(await stripe(deleted)).toMatchObject({ status: 'applied', plan: 'test' });
    await consume(s, 5);
    const lateRenewal = stripeEvent(
      version,
      'invoice.paid',
      stripeInvoice(version, { id: uniqueId('in'), subscription: ids.id, customer: ids.customer, subject: s.id, price: 'price_pro_monthly', periodStart: renewal }),
      Date.now(),
    );
    const late = await stripe(lateRenewal);
    expect(late).toMatchObject({ status: 'stale', plan: 'test', anchor: iso(started) });
    expect(late.notes).toEqual(expect.arrayContaining([expect.stringMatching(/^period: the subscription is ended/)]));
    expect(await subjectView(s)).toEqual({ plan: 'test', anchor: iso(started), gens: 5 });
  });

  it('Stripe: a subscription created incomplete starts its period once it is active, whichever way its first invoice arrives', async () => {
    const s = await f.createSubject({ plan: 'test' });
    const ids = { id: uniqueId('sub'), customer: uniqueId('cus'), subject: s.id, price: 'price_pro_monthly' };
    const created = Date.now() - 3 * MINUTE;
    const incomplete = stripeEvent(version, 'customer.subscription.created', stripeSubscription(version, { ...ids, periodStart: created, status: 'incomplete' }), created);
    expect(await stripe(incomplete)).toMatchObject({ status: 'unchanged', plan: 'test', notes: ['period: the subscription is pending; its periods move nothing'] });
    // Its first invoice was created a second before the subscription's event.
    const firstInvoice = stripeInvoice(version, {
      id: uniqueId('in'),
      subscription: ids.id,
      customer: ids.customer,
      subject: s.id,
      price: ids.price,
      periodStart: created,
      created: created - 1_000,
      billingReason: 'subscription_create',
    });
    expect(await stripe(stripeEvent(version, 'invoice.paid', firstInvoice, Date.now() - 2 * MINUTE))).toMatchObject({ status: 'stale', plan: 'test' });
    const active = stripeEvent(version, 'customer.subscription.updated', stripeSubscription(version, { ...ids, periodStart: created }), Date.now() - MINUTE);
    expect(await stripe(active)).toMatchObject({ status: 'applied', plan: 'pro', anchor: iso(created) });
  });

  it('Paddle: canceled, then a late transaction.completed — nothing comes back', async () => {
    const s = await f.createSubject({ plan: 'test' });
    const sub = { id: uniqueId('sub'), customer: uniqueId('ctm'), subject: s.id, price: 'pri_pro_monthly' };
    const started = Date.now() - 40 * MINUTE;
    await paddle(paddleEvent('subscription.created', paddleSubscription({ ...sub, periodStart: started }), started));
    expect(await paddle(paddleEvent('subscription.canceled', paddleSubscription({ ...sub, periodStart: started, status: 'canceled' }), Date.now() - MINUTE))).toMatchObject({
      plan: 'test',
    });
    const txn = paddleTransaction({
      id: uniqueId('txn'),
      subscription: sub.id,
      customer: sub.customer,
      subject: s.id,
      price: 'pri_pro_monthly',
      periodStart: Date.now() - 10 * MINUTE,
    });
    expect(await paddle(paddleEvent('transaction.completed', txn, Date.now()))).toMatchObject({ status: 'stale', plan: 'test' });
    expect((await subjectView(s)).plan).toBe('test');
  });

  it('quotagate format: renewed before plan_changed, delivered the other way round — the new period and the new plan both hold', async () => {
    const s = await f.createSubject({ plan: 'test' });
    await consume(s, 9);
    const renewal = Date.now() - 10 * MINUTE;
    const renewed = {
      id: uniqueId('evt'),
      type: 'subscription.renewed',
      occurred_at: new Date(renewal).toISOString(),
      data: { subject_id: s.id, period_start: new Date(renewal).toISOString(), plan: 'starter' },
    };
    const changed = { id: uniqueId('evt'), type: 'subscription.plan_changed', occurred_at: new Date(Date.now() - MINUTE).toISOString(), data: { subject_id: s.id, plan: 'pro' } };
    expect(await quotagate(changed)).toMatchObject({ status: 'applied', plan: 'pro' });
    const late = await quotagate(renewed);
    // The renewal's period is new to the subject, so it starts; its plan is older than the change, so it does not.
    expect(late).toMatchObject({ status: 'applied', plan: 'pro', anchor: new Date(renewal).toISOString(), notes: [expect.stringMatching(/^state: /)] });
    expect(await subjectView(s)).toEqual({ plan: 'pro', anchor: new Date(renewal).toISOString(), gens: 0 });
    // A renewal for a period before the one the subject is in changes nothing.
    const earlier = { id: uniqueId('evt'), type: 'subscription.renewed', data: { subject_id: s.id, period_start: new Date(renewal - 5 * MINUTE).toISOString() } };
    expect(await quotagate(earlier)).toMatchObject({ status: 'unchanged', notes: [expect.stringMatching(/^period: .* is older than the subscription's current period/)] });
    expect((await subjectView(s)).anchor).toBe(new Date(renewal).toISOString());
  });

  it("one subscription's events, each delivered 25 times, all 100 at once in a shuffled order: the in-order end state, each event applied once", async () => {
    const s = await f.createSubject({ plan: 'test' });
    const ids = { id: uniqueId('sub'), customer: uniqueId('cus'), subject: s.id };
    const started = Date.now() - 40 * MINUTE;
    const renewal = Date.now() - 20 * MINUTE;
    const events = [
      stripeEvent(version, 'customer.subscription.created', stripeSubscription(version, { ...ids, price: 'price_starter_monthly', periodStart: started }), started),
      stripeEvent(
        version,
        'invoice.paid',
        stripeInvoice(version, { id: uniqueId('in'), subscription: ids.id, customer: ids.customer, subject: s.id, price: 'price_starter_monthly', periodStart: renewal }),
        renewal + MINUTE,
      ),
      stripeEvent(version, 'customer.subscription.updated', stripeSubscription(version, { ...ids, price: 'price_starter_monthly', periodStart: renewal }), renewal),
      stripeEvent(version, 'customer.subscription.updated', stripeSubscription(version, { ...ids, price: 'price_pro_monthly', periodStart: renewal }), renewal + 5 * MINUTE),
    ];
    const deliveries = events.flatMap((e) => Array.from({ length: 25 }, () => e));
    for (let i = deliveries.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [deliveries[i], deliveries[j]] = [deliveries[j]!, deliveries[i]!];
    }
    const answers = await Promise.all(deliveries.map(async (e) => ({ id: (e as { id: string }).id, ...(await deliverEvent(f.url, 'stripe', e)) })));
    expect(answers.filter((a) => a.status !== 200).map((a) => [a.status, a.body])).toEqual([]);
    for (const e of events) expect(answers.filter((a) => a.id === e.id && !a.body.duplicate)).toHaveLength(1);
    expect(await subjectView(s)).toEqual({ plan: 'pro', anchor: iso(renewal), gens: 0 });
  });

  it('in order, the same pairs end in the same place', async () => {
    const s = await f.createSubject({ plan: 'test' });
    const { renewal, invoice, upgraded } = renewalThenUpgrade(s);
    expect(await stripe(invoice)).toMatchObject({ status: 'applied', plan: 'starter', anchor: iso(renewal) });
    expect(await stripe(upgraded)).toMatchObject({ status: 'applied', plan: 'pro', anchor: iso(renewal) });
    expect(await subjectView(s)).toMatchObject({ plan: 'pro', anchor: iso(renewal) });
  });
});
