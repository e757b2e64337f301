import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  billingTestPolicy,
  deliverEvent,
  paddle,
  PADDLE_SECRET,
  paddleEvent,
  paddleSignature,
  paddleSubscription,
  paddleTransaction,
  uniqueId,
} from '../support/billing-events.js';
import { startGatewayFixture, type GatewayFixture, type TestSubject } from '../support/gateway.js';

/**
 * POST /webhooks/paddle with Paddle Billing notifications, signed the Paddle way; every
 * signature quotagate accepts or refuses here is put to Paddle's own SDK as well.
 */

const NEW = 'pdl_ntfset_01rotated_new_secret_0123456789';
let f: GatewayFixture;
beforeAll(async () => {
  // Two secrets while the operator rotates: the new one and the old one.
  f = await startGatewayFixture({ policy: billingTestPolicy, env: { PADDLE_WEBHOOK_SECRET: `${PADDLE_SECRET},${NEW}` } });
});
afterAll(() => f?.close());

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, read field by field by the assertions
type Answer = { received: boolean; duplicate: boolean; result: Record<string, any> };

/** Whether Paddle's SDK accepts the delivery (unmarshal verifies, then parses). */
async function paddleAccepts(body: string, header: string, secret = PADDLE_SECRET): Promise<boolean> {
  try {
    await paddle.webhooks.unmarshal(body, secret, header);
    return true;
  } catch {
    return false;
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, read field by field by the assertions
const post = (body: string, header: string) => deliverEvent(f.url, 'paddle', body, header) as Promise<{ status: number; body: Answer & Record<string, any> }>;

/** Signs `event` the Paddle way, checks Paddle's SDK accepts it, and delivers it. */
async function deliver(event: object) {
  const body = JSON.stringify(event);
  const header = paddleSignature(body);
  expect(await paddleAccepts(body, header)).toBe(true);
  return post(body, header);
}

const usage = async (s: TestSubject) =>
  (await (await f.request('/v1/usage', { key: s.key })).json()) as { plan: string; metrics: { metric: string; used: number; limit: number | null; period_start: string | null }[] };
const metricOf = async (s: TestSubject, metric: string) => (await usage(s)).metrics.find((m) => m.metric === metric)!;
const MINUTE = 60_000;

describe('Paddle Billing notifications', () => {
  it('subscription.created puts the subject named in custom_data on the mapped plan; transaction.completed (subscription_recurring) renews: 1,950/2,000 → 0/2,000', async () => {
    const s = await f.createSubject({ plan: 'test' });
    const sub = { id: uniqueId('sub'), customer: uniqueId('ctm'), subject: s.id, price: 'pri_starter_monthly' };
    const first = Date.now() - 20 * MINUTE;
    const created = await deliver(paddleEvent('subscription.created', paddleSubscription({ ...sub, periodStart: first }), Date.now() - 10 * MINUTE));
    expect(created.status).toBe(200);
    expect(created.body.result).toMatchObject({ status: 'applied', plan: 'starter', anchor: new Date(first).toISOString() });

    const consumed = await f.request('/v1/consume', { method: 'POST', key: s.key, json: { charges: [{ metric: 'gens', amount: 1_950 }] } });
    expect(consumed.status).toBe(200);
    expect(await metricOf(s, 'gens')).toMatchObject({ used: 1_950, limit: 2_000 });

    const renewal = Date.now() - MINUTE;
    const txn = paddleTransaction({ id: uniqueId('txn'), subscription: sub.id, customer: sub.customer, subject: s.id, price: 'pri_starter_monthly', periodStart: renewal });
    const renewed = await deliver(paddleEvent('transaction.completed', txn, Date.now()));
    expect(renewed.body.result).toMatchObject({ status: 'applied', plan: 'starter', anchor: new Date(renewal).toISOString() });
    expect(await metricOf(s, 'gens')).toMatchObject({ used: 0, limit: 2_000, period_start: new Date(renewal).toISOString() });
  });

  it('subscription.updated changes the plan (a product mapping counts too); subscription.canceled goes back to the default plan', async () => {
    const s = await f.createSubject({ plan: 'test' });
    const sub = { id: uniqueId('sub'), customer: uniqueId('ctm'), subject: s.id };
    const periodStart = Date.now() - 20 * MINUTE;
    await deliver(paddleEvent('subscription.created', paddleSubscription({ ...sub, price: 'pri_pro_monthly', periodStart }), Date.now() - 3 * MINUTE));
    expect((await usage(s)).plan).toBe('pro');
    const down = await deliver(
      paddleEvent('subscription.updated', paddleSubscription({ ...sub, price: 'pri_basic_2025', product: 'pro_basic', periodStart }), Date.now() - 2 * MINUTE),
    );
    expect(down.body.result).toMatchObject({ status: 'applied', plan: 'basic' });
    const canceled = await deliver(
      paddleEvent('subscription.canceled', paddleSubscription({ ...sub, price: 'pri_basic_2025', product: 'pro_basic', periodStart, status: 'canceled' }), Date.now()),
    );
    expect(canceled.body.result).toMatchObject({ status: 'applied', plan: 'test' });
    expect((await usage(s)).plan).toBe('test');
  });

  it('records transactions that open no period and other types, answering 200', async () => {
    const s = await f.createSubject({ plan: 'starter' });
    const update = paddleTransaction({
      id: uniqueId('txn'),
      subscription: uniqueId('sub'),
      customer: uniqueId('ctm'),
      subject: s.id,
      price: 'pri_pro_monthly',
      origin: 'subscription_update',
      periodStart: Date.now(),
    });
    const answers = [
      await deliver(paddleEvent('transaction.completed', update, Date.now())),
      await deliver(paddleEvent('customer.updated', { id: 'ctm_01h8441jn5pcwrfhwh78jqt8hk', email: 'a@example.com' }, Date.now())),
    ];
    expect(answers.map((a) => [a.status, a.body.result.status])).toEqual([
      [200, 'ignored'],
      [200, 'ignored'],
    ]);
    expect(answers[0]!.body.result.reason).toMatch(/origin "subscription_update" opens no period/);
    expect((await usage(s)).plan).toBe('starter');
  });
});

describe("Paddle signatures: quotagate accepts what Paddle's SDK accepts", () => {
  const body = () => JSON.stringify(paddleEvent('customer.updated', { id: uniqueId('ctm') }, Date.now()));

  it('accepts either configured secret, and a header with one h1 per secret (Paddle rotating)', async () => {
    for (const secrets of [[PADDLE_SECRET], [NEW], ['pdl_ntfset_01retired_secret_000000', NEW]]) {
      const b = body();
      const header = paddleSignature(b, secrets);
      // Paddle's SDK reads the last h1 of the header.
      expect(await paddleAccepts(b, header, secrets.at(-1))).toBe(true);
      expect((await post(b, header)).status, secrets.join()).toBe(200);
    }
  });

  it("refuses a wrong secret, a stale timestamp, a tampered body, and Stripe's spelling — as the SDK does", async () => {
    const b = body();
    const now = Math.floor(Date.now() / 1000);
    const cases: [string, string, string][] = [
      ['wrong secret', paddleSignature(b, ['pdl_ntfset_01not_the_secret_000000']), b],
      ['stale', paddleSignature(b, [PADDLE_SECRET], now - 301), b],
      ['tampered body', paddleSignature(b), b.replace('customer.updated', 'customer.created')],
      ['comma-separated', paddleSignature(b).replace(';', ','), b],
    ];
    for (const [what, header, sent] of cases) {
      expect(await paddleAccepts(sent, header), what).toBe(false);
      const res = await post(sent, header);
      expect(res.status, what).toBe(401);
      expect(res.body).toMatchObject({ code: 'unauthorized' });
    }
  });
});
