import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  billingTestPolicy,
  deliverEvent,
  stripe,
  STRIPE_SECRET,
  STRIPE_VERSIONS,
  stripeEvent,
  stripeInvoice,
  stripeSignature,
  stripeSubscription,
  uniqueId,
  type StripeVersion,
} from '../support/billing-events.js';
import { startGatewayFixture, type GatewayFixture, type TestSubject } from '../support/gateway.js';

/**
 * POST /webhooks/stripe with events shaped as Stripe sends them (before and since
 * 2025-03-31.basil), signed by Stripe's own library.
 */

let f: GatewayFixture;
beforeAll(async () => {
  f = await startGatewayFixture({ policy: billingTestPolicy, env: { STRIPE_WEBHOOK_SECRET: STRIPE_SECRET } });
});
afterAll(() => f?.close());

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, read field by field by the assertions
type Answer = { received: boolean; duplicate: boolean; result: Record<string, any> };

const deliver = (event: object, signature?: (body: string) => string) =>
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, read field by field by the assertions
  deliverEvent(f.url, 'stripe', event, signature?.(JSON.stringify(event))) as Promise<{ status: number; body: Answer & Record<string, any> }>;

const usage = async (s: TestSubject) =>
  (await (await f.request('/v1/usage', { key: s.key })).json()) as { plan: string; metrics: { metric: string; used: number; limit: number | null; period_start: string | null }[] };
const metricOf = async (s: TestSubject, metric: string) => (await usage(s)).metrics.find((m) => m.metric === metric)!;
const audits = async (subject: string) =>
  (await f.pool.query<{ action: string; actor: string; reason: string }>('SELECT action, actor, reason FROM audit_log WHERE subject_id = $1 ORDER BY id', [subject])).rows;

async function consume(s: TestSubject, metric: string, amount: number): Promise<void> {
  const res = await f.request('/v1/consume', { method: 'POST', key: s.key, json: { charges: [{ metric, amount }] } });
  expect(res.status).toBe(200);
}

async function createProjects(s: TestSubject, n: number): Promise<void> {
  const statuses = await Promise.all(Array.from({ length: n }, () => f.request('/v1/projects', { method: 'POST', key: s.key, json: {} }).then((r) => r.status)));
  expect(statuses).toEqual(Array(n).fill(201));
}

const MINUTE = 60_000;
const iso = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString();

describe.each(STRIPE_VERSIONS)('Stripe API version %s', (version: StripeVersion) => {
  const ids = () => ({ id: uniqueId('sub'), customer: uniqueId('cus') });

  it('customer.subscription.created puts the subject named in metadata on the mapped plan, its periods from the subscription period', async () => {
    const s = await f.createSubject({ plan: 'test' });
    const periodStart = Date.now() - 5 * MINUTE;
    const sub = stripeSubscription(version, { ...ids(), subject: s.id, price: 'price_pro_monthly', periodStart });
    const { status, body } = await deliver(stripeEvent(version, 'customer.subscription.created', sub, Date.now()));
    expect(status).toBe(200);
    expect(body).toMatchObject({
      received: true,
      duplicate: false,
      result: { status: 'applied', subject: s.id, plan: 'pro', anchor: iso(periodStart), period_start: iso(periodStart) },
    });
    const now = await usage(s);
    expect(now.plan).toBe('pro');
    expect(now.metrics.find((m) => m.metric === 'gens')!.period_start).toBe(iso(periodStart));
    expect((await audits(s.id)).map((a) => a.action)).toEqual(['billing.renewed', 'billing.plan_changed']);
  });

  it('a renewal (invoice.paid, billing_reason subscription_cycle) takes a subject at 1,950/2,000 to 0/2,000; gauges stay', async () => {
    const s = await f.createSubject({ plan: 'starter' });
    const { id, customer } = ids();
    await consume(s, 'gens', 1_950);
    await createProjects(s, 2);
    expect(await metricOf(s, 'gens')).toMatchObject({ used: 1_950, limit: 2_000 });

    const periodStart = Date.now() - MINUTE;
    const invoice = stripeInvoice(version, { id: uniqueId('in'), subscription: id, customer, subject: s.id, price: 'price_starter_monthly', periodStart });
    const paid = stripeEvent(version, 'invoice.paid', invoice, Date.now());
    const { status, body } = await deliver(paid);
    expect(status).toBe(200);
    expect(body.result).toMatchObject({ status: 'applied', subject: s.id, subscription: id, plan: 'starter', anchor: iso(periodStart) });
    expect(await metricOf(s, 'gens')).toMatchObject({ used: 0, limit: 2_000 });
    expect(await metricOf(s, 'projects')).toMatchObject({ used: 2 });
    expect(await audits(s.id)).toEqual([{ action: 'billing.renewed', actor: 'billing-webhook', reason: `stripe event ${paid.id}` }]);

    // invoice.payment_succeeded for the same invoice says the same: nothing more happens.
    const again = await deliver(stripeEvent(version, 'invoice.payment_succeeded', invoice, Date.now()));
    expect(again.body.result).toMatchObject({ status: 'unchanged', notes: [expect.stringMatching(/already applied/)] });
    expect(await metricOf(s, 'gens')).toMatchObject({ used: 0 });
  });

  it('customer.subscription.updated to a cheaper plan while too many projects exist: blocked, recorded, audited; the gauges stay', async () => {
    const s = await f.createSubject({ plan: 'test' });
    const { id, customer } = ids();
    const periodStart = Date.now() - 10 * MINUTE;
    const created = Date.now() - 2 * MINUTE;
    expect(
      (
        await deliver(
          stripeEvent(version, 'customer.subscription.created', stripeSubscription(version, { id, customer, subject: s.id, price: 'price_pro_monthly', periodStart }), created),
        )
      ).body.result.plan,
    ).toBe('pro');
    await createProjects(s, 5);

    // The basic price is not mapped itself; its product is.
    const downgrade = stripeSubscription(version, { id, customer, subject: s.id, price: 'price_basic_2025', product: 'prod_basic', periodStart });
    const event = stripeEvent(version, 'customer.subscription.updated', downgrade, Date.now());
    const { status, body } = await deliver(event);
    expect(status).toBe(200);
    expect(body.result).toMatchObject({ status: 'blocked', plan: 'pro', requested_plan: 'basic', blockers: [{ metric: 'projects', message: 'delete 2 projects' }] });
    expect((await usage(s)).plan).toBe('pro');
    expect((await audits(s.id)).map((a) => a.action)).toContain('billing.plan_changed.blocked');
    const recorded = await f.pool.query("SELECT result FROM webhook_events WHERE provider = 'stripe' AND id = $1", [event.id]);
    expect(recorded.rows[0].result).toMatchObject({ status: 'blocked', requested_plan: 'basic' });
  });

  it('customer.subscription.deleted takes the subject back to the default plan, even above its gauges', async () => {
    const s = await f.createSubject({ plan: 'test' });
    const { id, customer } = ids();
    const periodStart = Date.now() - 10 * MINUTE;
    await deliver(
      stripeEvent(
        version,
        'customer.subscription.created',
        stripeSubscription(version, { id, customer, subject: s.id, price: 'price_pro_monthly', periodStart }),
        Date.now() - MINUTE,
      ),
    );
    await createProjects(s, 6);
    const deleted = stripeSubscription(version, { id, customer, subject: s.id, price: 'price_pro_monthly', periodStart, status: 'canceled' });
    const { body } = await deliver(stripeEvent(version, 'customer.subscription.deleted', deleted, Date.now()));
    expect(body.result).toMatchObject({ status: 'applied', plan: 'test', forced: [{ metric: 'projects', message: 'delete 1 projects' }] });
    expect((await usage(s)).plan).toBe('test');
    expect((await audits(s.id)).map((a) => a.action)).toContain('billing.canceled');
    expect((await f.request('/v1/projects', { method: 'POST', key: s.key, json: {} })).status).toBe(402);
  });
});

/** quotagate_billing_webhooks_total{provider="stripe", result} so far. */
const counted = async (result: string) =>
  (await f.gateway.deps.metrics.billingWebhooks.get()).values.find((v) => v.labels.provider === 'stripe' && v.labels.result === result)?.value ?? 0;

describe('Stripe: once, and only what moves quota', () => {
  const version = '2025-03-31.basil';

  it('applies the same invoice.paid delivered 1,000 times, 250 at once, exactly once', async () => {
    const s = await f.createSubject({ plan: 'starter' });
    await consume(s, 'gens', 1_950);
    const periodStart = Date.now() - MINUTE;
    const event = stripeEvent(
      version,
      'invoice.paid',
      stripeInvoice(version, { id: uniqueId('in'), subscription: uniqueId('sub'), customer: uniqueId('cus'), subject: s.id, price: 'price_starter_monthly', periodStart }),
      Date.now(),
    );
    const body = JSON.stringify(event);
    const signature = stripeSignature(body);
    const answers: Answer[] = [];
    const [appliedBefore, duplicatesBefore] = [await counted('applied'), await counted('duplicate')];
    let next = 0;
    // 250 deliveries in flight at any moment until all 1,000 are answered.
    await Promise.all(
      Array.from({ length: 250 }, async () => {
        while (next < 1_000) {
          next++;
          const res = await fetch(`${f.url}/webhooks/stripe`, { method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': signature }, body });
          expect(res.status).toBe(200);
          answers.push((await res.json()) as Answer);
        }
      }),
    );
    expect(answers).toHaveLength(1_000);
    expect(answers.filter((a) => !a.duplicate)).toHaveLength(1);
    for (const a of answers) expect(a.result).toEqual(answers[0]!.result);
    expect(answers[0]!.result).toMatchObject({ status: 'applied', anchor: iso(periodStart) });
    // quotagate_billing_webhooks_total tells the one application from the 999 redeliveries.
    expect([(await counted('applied')) - appliedBefore, (await counted('duplicate')) - duplicatesBefore]).toEqual([1, 999]);
    expect((await audits(s.id)).filter((a) => a.action === 'billing.renewed')).toHaveLength(1);
    expect((await f.pool.query("SELECT count(*)::int AS n FROM webhook_events WHERE provider = 'stripe' AND id = $1", [event.id])).rows[0].n).toBe(1);
    expect(await metricOf(s, 'gens')).toMatchObject({ used: 0, limit: 2_000 });
  });

  it('records other event types and invoices that open no period, and answers 200', async () => {
    const s = await f.createSubject({ plan: 'starter' });
    const other = stripeEvent(version, 'charge.succeeded', { id: 'ch_3MmlLrLkdIwHu7ix0snN0B15', object: 'charge', amount: 1099 }, Date.now());
    const proration = stripeEvent(
      version,
      'invoice.paid',
      stripeInvoice(version, {
        id: uniqueId('in'),
        subscription: uniqueId('sub'),
        customer: uniqueId('cus'),
        subject: s.id,
        price: 'price_pro_monthly',
        periodStart: Date.now(),
        billingReason: 'subscription_update',
      }),
      Date.now(),
    );
    for (const [event, reason] of [
      [other, /quotagate acts on customer\.subscription\.created/],
      [proration, /billing_reason "subscription_update" opens no period/],
    ] as const) {
      const { status, body } = await deliver(event);
      expect(status).toBe(200);
      expect(body.result).toMatchObject({ status: 'ignored', reason: expect.stringMatching(reason) });
      expect((await f.pool.query("SELECT result FROM webhook_events WHERE provider = 'stripe' AND id = $1", [event.id])).rows).toHaveLength(1);
    }
    expect((await usage(s)).plan).toBe('starter');
  });

  it('answers 400 naming the field of a handled event it cannot read', async () => {
    const sub = stripeSubscription(version, { id: uniqueId('sub'), customer: uniqueId('cus'), price: 'price_pro_monthly', periodStart: Date.now() });
    delete sub.status;
    const { status, body } = await deliver(stripeEvent(version, 'customer.subscription.updated', sub, Date.now()));
    expect(status).toBe(400);
    expect(body).toMatchObject({ code: 'invalid_request', field: 'data.object.status' });
    expect(await counted('invalid_request')).toBeGreaterThanOrEqual(1);
    const noId = await deliver({ type: 'invoice.paid', created: 1, data: { object: {} } });
    expect(noId.body).toMatchObject({ code: 'invalid_request', field: 'id' });
    // Text Postgres cannot store is refused at the edge, never a 500 Stripe would retry for days.
    const nul = stripeEvent(
      version,
      'customer.subscription.updated',
      stripeSubscription(version, { id: uniqueId('sub'), customer: uniqueId('cus'), subject: 'org\u0000', price: 'price_pro_monthly', periodStart: Date.now() }),
      Date.now(),
    );
    expect(await deliver(nul)).toMatchObject({ status: 400, body: { code: 'invalid_request', field: 'data.object.metadata.quotagate_subject' } });
    expect((await f.pool.query("SELECT 1 FROM webhook_events WHERE provider = 'stripe' AND id = $1", [nul.id])).rows).toEqual([]);
  });
});

describe("Stripe signatures: quotagate accepts exactly what Stripe's own library accepts", () => {
  const version = '2025-03-31.basil';
  const NEW = 'whsec_rotated_new_secret_0123456789';
  let rotating: GatewayFixture;
  beforeAll(async () => {
    // Two secrets while the operator rolls the endpoint's secret: the new one and the old one.
    rotating = await startGatewayFixture({ policy: billingTestPolicy, env: { STRIPE_WEBHOOK_SECRET: `${NEW},${STRIPE_SECRET}` } });
  });
  afterAll(() => rotating?.close());

  /** Whether Stripe's constructEvent accepts the header with `secret` (its default tolerance: 300 s). */
  const stripeAccepts = (body: string, header: string, secret: string) => {
    try {
      stripe.webhooks.constructEvent(body, header, secret);
      return true;
    } catch {
      return false;
    }
  };

  it('refuses a wrong secret, a stale timestamp, a tampered body and a missing header — as Stripe does — and changes nothing', async () => {
    const s = await f.createSubject({ plan: 'starter' });
    const event = stripeEvent(
      version,
      'invoice.paid',
      stripeInvoice(version, {
        id: uniqueId('in'),
        subscription: uniqueId('sub'),
        customer: uniqueId('cus'),
        subject: s.id,
        price: 'price_pro_monthly',
        periodStart: Date.now() - MINUTE,
      }),
      Date.now(),
    );
    const body = JSON.stringify(event);
    const now = Math.floor(Date.now() / 1000);
    const cases: [string, string, string][] = [
      ['wrong secret', stripeSignature(body, 'whsec_not_the_endpoint_secret_0000'), body],
      ['stale', stripeSignature(body, STRIPE_SECRET, now - 301), body],
      ['tampered body', stripeSignature(body), body.replace(s.id, 'someone-else')],
      ['no v1', `t=${now}`, body],
    ];
    for (const [what, header, sent] of cases) {
      expect(stripeAccepts(sent, header, STRIPE_SECRET), what).toBe(false);
      const res = await deliverEvent(f.url, 'stripe', sent, header);
      expect(res.status, what).toBe(401);
      expect(res.body).toMatchObject({ code: 'unauthorized' });
    }
    const missing = await fetch(`${f.url}/webhooks/stripe`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(missing.status).toBe(401);
    expect((await f.pool.query("SELECT 1 FROM webhook_events WHERE provider = 'stripe' AND id = $1", [event.id])).rows).toEqual([]);
    expect((await usage(s)).plan).toBe('starter');
  });

  it('accepts a signature by the old or the new secret while both are configured, and a header with one v1 per secret (Stripe rolling its secret)', async () => {
    const s = await rotating.createSubject({ plan: 'test' });
    const send = async (secretsSigning: string[]) => {
      const event = stripeEvent(
        version,
        'customer.subscription.updated',
        stripeSubscription(version, { id: uniqueId('sub'), customer: uniqueId('cus'), subject: s.id, price: 'price_pro_monthly', periodStart: Date.now() - MINUTE }),
        Date.now(),
      );
      const body = JSON.stringify(event);
      const ts = Math.floor(Date.now() / 1000);
      const v1s = secretsSigning.map((secret) =>
        stripeSignature(body, secret, ts)
          .split(',')
          .find((p) => p.startsWith('v1='))!,
      );
      const header = [`t=${ts}`, ...v1s].join(',');
      expect(secretsSigning.some((secret) => stripeAccepts(body, header, secret))).toBe(true);
      return (await deliverEvent(rotating.url, 'stripe', body, header)).status;
    };
    expect(await send([STRIPE_SECRET])).toBe(200);
    expect(await send([NEW])).toBe(200);
    expect(await send(['whsec_retired_secret_0123456789', NEW])).toBe(200);
    expect(await send(['whsec_retired_secret_0123456789'])).toBe(401);
  });

  it('answers 401 naming the variable while STRIPE_WEBHOOK_SECRET is unset', async () => {
    const off = await startGatewayFixture({ policy: billingTestPolicy });
    try {
      const body = JSON.stringify(stripeEvent(version, 'charge.succeeded', { id: 'ch_1' }, Date.now()));
      const res = await fetch(`${off.url}/webhooks/stripe`, { method: 'POST', headers: { 'stripe-signature': stripeSignature(body) }, body });
      expect(res.status).toBe(401);
      expect(((await res.json()) as { detail: string }).detail).toContain('STRIPE_WEBHOOK_SECRET');
    } finally {
      await off.close();
    }
  });
});
