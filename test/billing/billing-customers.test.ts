import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPolicyFile } from '../../src/config/load-policy.js';
import { simulatedEvent, simulatedSignature } from '../../src/billing/simulated-event.js';
import {
  billingTestPolicy,
  deliverEvent,
  paddle,
  PADDLE_SECRET,
  stripe,
  STRIPE_SECRET,
  stripeEvent,
  stripeInvoice,
  stripeSubscription,
  uniqueId,
} from '../support/billing-events.js';
import { runCli, type CliResult } from '../support/cli.js';
import { startGatewayFixture, TEST_ADMIN_TOKEN, type GatewayFixture, type TestSubject } from '../support/gateway.js';

/**
 * Events that name no subject: the customer-id links kept through the admin API (and its CLI
 * shortcuts), the record of events no subject was found for, and `billing simulate`.
 */

let f: GatewayFixture;
let dir: string;
let policyFile: string;
beforeAll(async () => {
  f = await startGatewayFixture({ policy: billingTestPolicy, env: { STRIPE_WEBHOOK_SECRET: STRIPE_SECRET, PADDLE_WEBHOOK_SECRET: PADDLE_SECRET } });
  // The CLI reads the same policy (subject key, price mapping) from POLICY_FILE.
  dir = mkdtempSync(join(tmpdir(), 'qg-billing-'));
  policyFile = join(dir, 'policy.json');
  writeFileSync(policyFile, JSON.stringify(billingTestPolicy(f.upstream.url)));
});
afterAll(async () => {
  await f?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const version = '2025-03-31.basil';
const MINUTE = 60_000;
const cli = (...args: string[]) =>
  runCli(args, { QUOTAGATE_URL: f.url, ADMIN_TOKEN: TEST_ADMIN_TOKEN, STRIPE_WEBHOOK_SECRET: STRIPE_SECRET, PADDLE_WEBHOOK_SECRET: PADDLE_SECRET, POLICY_FILE: policyFile });
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, read field by field by the assertions
const ok = (r: CliResult): any => {
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r.stdout === '' ? undefined : JSON.parse(r.stdout);
};

const deliver = (event: object) => deliverEvent(f.url, 'stripe', event);

const usage = async (s: TestSubject) => (await (await f.request('/v1/usage', { key: s.key })).json()) as { plan: string; metrics: { metric: string; used: number }[] };
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, read field by field by the assertions
const unmatched = async () => ((await (await f.admin('/admin/v1/billing/unmatched?provider=stripe&limit=500')).json()) as { items: Record<string, any>[] }).items;
const audits = async (subject: string) =>
  (await f.pool.query<{ action: string }>('SELECT action FROM audit_log WHERE subject_id = $1 ORDER BY id', [subject])).rows.map((r) => r.action);

describe('customers without a subject of their own', () => {
  it('an unknown customer is 404 (Stripe retries), listed for the operator; once linked, the retry applies and the listing clears', async () => {
    const s = await f.createSubject({ plan: 'test' });
    const customer = uniqueId('cus');
    const subscription = uniqueId('sub');
    const event = stripeEvent(
      version,
      'customer.subscription.created',
      stripeSubscription(version, { id: subscription, customer, price: 'price_pro_monthly', periodStart: Date.now() - MINUTE }),
      Date.now(),
    );

    for (let attempt = 1; attempt <= 2; attempt++) {
      const { status, body } = await deliver(event);
      expect(status).toBe(404);
      expect(body).toMatchObject({ code: 'not_found', reason: 'unknown_customer', field: 'data.object.customer' });
      expect(body.detail).toContain(customer);
    }
    expect((await f.pool.query("SELECT 1 FROM webhook_events WHERE provider = 'stripe' AND id = $1", [event.id])).rows).toEqual([]);
    expect((await unmatched()).find((e) => e.event_id === event.id)).toMatchObject({
      reason: 'unknown_customer',
      customer,
      subscription,
      attempts: 2,
      event_type: 'customer.subscription.created',
    });
    const listed = ok(await cli('billing', 'unmatched', '--provider', 'stripe'));
    expect(listed.items.map((e: { event_id: string }) => e.event_id)).toContain(event.id);

    expect(ok(await cli('billing', 'link', 'stripe', customer, s.id))).toMatchObject({ provider: 'stripe', customer, subject: s.id });
    expect(await audits(s.id)).toContain('billing.customer_linked');
    const retried = await deliver(event);
    expect(retried).toMatchObject({ status: 200, body: { result: { status: 'applied', subject: s.id, plan: 'pro' } } });
    expect((await unmatched()).find((e) => e.event_id === event.id)).toBeUndefined();

    // A later invoice without metadata finds the subject through its subscription.
    const invoice = stripeEvent(
      version,
      'invoice.paid',
      stripeInvoice(version, { id: uniqueId('in'), subscription, customer: uniqueId('cus_other'), price: 'price_pro_monthly', periodStart: Date.now() }),
      Date.now(),
    );
    expect((await deliver(invoice)).body.result).toMatchObject({ subject: s.id });
  });

  it('a subject named in metadata that does not exist yet is 404 unknown_subject, and applies once it does', async () => {
    const subject = uniqueId('later');
    const event = stripeEvent(
      version,
      'customer.subscription.created',
      stripeSubscription(version, { id: uniqueId('sub'), customer: uniqueId('cus'), subject, price: 'price_starter_monthly', periodStart: Date.now() - MINUTE }),
      Date.now(),
    );
    const first = await deliver(event);
    expect(first).toMatchObject({ status: 404, body: { reason: 'unknown_subject', field: 'data.object.metadata.quotagate_subject' } });
    expect((await unmatched()).find((e) => e.event_id === event.id)).toMatchObject({ reason: 'unknown_subject', subject });
    await f.createSubject({ id: subject, plan: 'test' });
    expect((await deliver(event)).body.result).toMatchObject({ status: 'applied', plan: 'starter' });
  });

  it('lists and unlinks customers (audited); unlinking twice is 404, a bad provider 400', async () => {
    const s = await f.createSubject({ plan: 'test' });
    const customer = uniqueId('ctm');
    ok(await cli('billing', 'link', 'paddle', customer, s.id));
    expect(ok(await cli('billing', 'customers', '--subject', s.id)).items).toEqual([expect.objectContaining({ provider: 'paddle', customer, subject: s.id })]);
    expect(ok(await cli('billing', 'unlink', 'paddle', customer))).toBeUndefined();
    expect(await audits(s.id)).toEqual(['billing.customer_linked', 'billing.customer_unlinked']);
    const again = await cli('billing', 'unlink', 'paddle', customer);
    expect(again.code).toBe(1);
    expect(JSON.parse(again.stderr)).toMatchObject({ code: 'not_found', field: 'customer' });
    const bad = await f.admin(`/admin/v1/billing/customers/chargebee/${customer}`, { method: 'PUT', json: { subject: s.id } });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ code: 'invalid_request', field: 'provider' });
    const missing = await f.admin(`/admin/v1/billing/customers/stripe/${customer}`, { method: 'PUT', json: { subject: uniqueId('nobody') } });
    expect(missing.status).toBe(404);
  });
});

describe('quotagate billing simulate', () => {
  it('posts a signed invoice.paid for a subject: the gateway starts a new period (0 used)', async () => {
    const s = await f.createSubject({ plan: 'starter' });
    expect((await f.request('/v1/consume', { method: 'POST', key: s.key, json: { charges: [{ metric: 'gens', amount: 1_950 }] } })).status).toBe(200);
    const answer = ok(await cli('billing', 'simulate', 'stripe', 'invoice.paid', '--subject', s.id));
    expect(answer).toMatchObject({ received: true, duplicate: false, result: { status: 'applied', subject: s.id, plan: 'starter' } });
    expect((await usage(s)).metrics.find((m) => m.metric === 'gens')!.used).toBe(0);
  });

  it('carries the price of --plan, for Paddle too; an unknown type or plan is a usage error', async () => {
    const s = await f.createSubject({ plan: 'test' });
    expect(ok(await cli('billing', 'simulate', 'paddle', 'subscription.created', '--subject', s.id, '--plan', 'pro')).result).toMatchObject({ status: 'applied', plan: 'pro' });
    expect(ok(await cli('billing', 'simulate', 'paddle', 'subscription.canceled', '--subject', s.id)).result).toMatchObject({ status: 'applied', plan: 'test' });
    const badType = await cli('billing', 'simulate', 'stripe', 'charge.refunded', '--subject', s.id);
    expect(badType.code).toBe(2);
    expect(badType.stderr).toContain('invoice.paid');
    const badPlan = await cli('billing', 'simulate', 'stripe', 'invoice.paid', '--subject', s.id, '--plan', 'unlimited');
    expect(badPlan.code).toBe(2);
    expect(badPlan.stderr).toContain('no price or product maps to plan "unlimited"');
  });

  it("signs what Stripe's library and Paddle's SDK accept", async () => {
    const policy = loadPolicyFile(policyFile);
    const now = Date.now();
    const base = {
      subject: 'org_1',
      subjectKey: policy.billing.subject_key,
      price: 'price_pro_monthly',
      product: 'prod_x',
      subscription: 'sub_x',
      customer: 'cus_x',
      periodStart: now,
      now,
    };
    for (const type of ['invoice.paid', 'customer.subscription.updated']) {
      const body = simulatedEvent({ ...base, provider: 'stripe', type });
      const [, header] = simulatedSignature('stripe', STRIPE_SECRET, body, now);
      expect(stripe.webhooks.constructEvent(body, header, STRIPE_SECRET).type).toBe(type);
    }
    for (const type of ['transaction.completed', 'subscription.updated']) {
      const body = simulatedEvent({ ...base, provider: 'paddle', type });
      const [, header] = simulatedSignature('paddle', PADDLE_SECRET, body, Date.now());
      expect((await paddle.webhooks.unmarshal(body, PADDLE_SECRET, header)).eventType).toBe(type);
    }
  });
});
