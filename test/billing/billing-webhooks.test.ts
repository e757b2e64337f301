import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signPayload } from '../../src/lib/hmac-signature.js';
import { gatewayTestPolicy, startGatewayFixture, TEST_WEBHOOK_SECRET, type GatewayFixture, type TestSubject } from '../support/gateway.js';

const policy = (upstream: string) => {
  const base = gatewayTestPolicy(upstream);
  return {
    ...base,
    plans: { ...base.plans, pro: { limits: { gens: 100, tokens: 10_000, exports: 10, projects: 10 } }, basic: { limits: { gens: 10, tokens: 1_000, exports: 1, projects: 3 } } },
    default_plan: 'basic',
  };
};

let f: GatewayFixture;
beforeAll(async () => {
  f = await startGatewayFixture({ policy });
});
afterAll(() => f?.close());

let n = 0;
const eventId = () => `evt_${process.pid}_${Date.now().toString(36)}_${++n}`;
const nowSeconds = () => Math.floor(Date.now() / 1000);

function deliver(body: string, signature = signPayload(TEST_WEBHOOK_SECRET, body, nowSeconds())) {
  return fetch(`${f.url}/webhooks/billing`, { method: 'POST', headers: { 'content-type': 'application/json', 'quotagate-signature': signature }, body });
}

const event = (type: string, data: Record<string, unknown>, id = eventId()) => JSON.stringify({ id, type, data });

async function subjectWithUsage(plan = 'pro'): Promise<TestSubject> {
  const s = await f.createSubject({ plan });
  const statuses = await Promise.all([
    ...Array.from({ length: 3 }, () => f.request('/v1/exports', { method: 'POST', key: s.key, json: {} }).then((r) => r.status)),
    ...Array.from({ length: 5 }, () => f.request('/v1/projects', { method: 'POST', key: s.key, json: {} }).then((r) => r.status)),
  ]);
  expect(statuses).toEqual([202, 202, 202, 201, 201, 201, 201, 201]);
  return s;
}

const usage = async (s: TestSubject) =>
  (await (await f.request('/v1/usage', { key: s.key })).json()) as { plan: string; metrics: { metric: string; used: number; period_start: string | null }[] };
const usedOf = async (s: TestSubject, metric: string) => (await usage(s)).metrics.find((m) => m.metric === metric)!.used;
const recorded = async (id: string) => (await f.pool.query("SELECT result FROM webhook_events WHERE provider = 'quotagate' AND id = $1", [id])).rows;
const audits = async (subject: string) =>
  (await f.pool.query<{ action: string; actor: string }>('SELECT action, actor FROM audit_log WHERE subject_id = $1 ORDER BY id', [subject])).rows;

describe('billing webhooks', () => {
  it('applies a renewal delivered 5 times at once exactly once: counters start at 0, gauges stay', async () => {
    const s = await subjectWithUsage();
    expect(await usedOf(s, 'exports')).toBe(3);
    const id = eventId();
    const body = event('subscription.renewed', { subject_id: s.id }, id);
    const answers = await Promise.all(
      Array.from({ length: 5 }, async () => {
        const res = await deliver(body);
        expect(res.status).toBe(200);
        return (await res.json()) as { duplicate: boolean; result: { status: string } };
      }),
    );
    expect(answers.filter((a) => !a.duplicate)).toHaveLength(1);
    expect(answers.filter((a) => a.duplicate)).toHaveLength(4);
    for (const a of answers) expect(a.result.status).toBe('applied');

    expect(await usedOf(s, 'exports')).toBe(0);
    expect(await usedOf(s, 'projects')).toBe(5);
    expect((await audits(s.id)).filter((a) => a.action === 'billing.renewed')).toEqual([{ action: 'billing.renewed', actor: 'billing-webhook' }]);
    expect(await recorded(id)).toHaveLength(1);
  });

  it('refuses a wrong signature, a stale timestamp and a replayed body with another timestamp — nothing changes', async () => {
    const s = await subjectWithUsage();
    const before = await usage(s);
    const body = event('subscription.canceled', { subject_id: s.id });
    const id = (JSON.parse(body) as { id: string }).id;
    const now = nowSeconds();
    const captured = signPayload(TEST_WEBHOOK_SECRET, body, now - 10);
    const otherSignature = captured.split(',v1=')[1]!;
    const attempts = [
      signPayload('not-the-secret-0123456789', body, now), // wrong secret
      signPayload(TEST_WEBHOOK_SECRET, body, now - 301), // stale
      `t=${now},v1=${otherSignature}`, // a captured signature under a new timestamp
      signPayload(TEST_WEBHOOK_SECRET, event('subscription.canceled', { subject_id: 'someone-else' }, id), now), // signed other body
      '',
    ];
    for (const signature of attempts) {
      const res = await deliver(body, signature);
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ code: 'unauthorized' });
    }
    expect(await recorded(id)).toEqual([]);
    expect(await usage(s)).toEqual(before);
  });

  it('records a blocked downgrade without applying it, then answers its redelivery as a duplicate', async () => {
    const s = await subjectWithUsage('pro');
    const id = eventId();
    const body = event('subscription.plan_changed', { subject_id: s.id, plan: 'basic' }, id);
    const first = (await (await deliver(body)).json()) as { duplicate: boolean; result: { status: string; blockers: { message: string }[] } };
    expect(first).toMatchObject({ duplicate: false, result: { status: 'blocked', blockers: [{ metric: 'projects', message: 'delete 2 projects' }] } });
    expect((await usage(s)).plan).toBe('pro');
    expect((await audits(s.id)).map((a) => a.action)).toContain('billing.plan_changed.blocked');
    const again = (await (await deliver(body)).json()) as { duplicate: boolean; result: { status: string } };
    expect(again).toMatchObject({ duplicate: true, result: { status: 'blocked' } });

    const upgrade = (await (await deliver(event('subscription.plan_changed', { subject_id: s.id, plan: 'unlimited' }))).json()) as { result: { status: string } };
    expect(upgrade.result.status).toBe('applied');
    expect((await usage(s)).plan).toBe('unlimited');
  });

  it('cancels to the default plan even above its gauge limits (new projects are denied)', async () => {
    const s = await subjectWithUsage('pro');
    const res = (await (await deliver(event('subscription.canceled', { subject_id: s.id }))).json()) as { result: { status: string; plan: string; forced: unknown[] } };
    expect(res.result).toMatchObject({ status: 'applied', plan: 'basic', forced: [{ metric: 'projects', message: 'delete 2 projects' }] });
    expect((await usage(s)).plan).toBe('basic');
    expect((await f.request('/v1/projects', { method: 'POST', key: s.key, json: {} })).status).toBe(402);
  });

  it('never refuses a renewal, even for a subject left above its gauges by a cancellation', async () => {
    const s = await subjectWithUsage('pro');
    await Promise.all(Array.from({ length: 2 }, () => f.request('/v1/projects', { method: 'POST', key: s.key, json: {} })));
    const canceled = (await (await deliver(event('subscription.canceled', { subject_id: s.id }))).json()) as { result: { plan: string; forced: unknown[] } };
    expect(canceled.result).toMatchObject({ plan: 'basic', forced: [{ metric: 'projects', message: 'delete 4 projects' }] });
    const renewal = new Date(Date.now() - 1000).toISOString();
    const renewed = (await (await deliver(event('subscription.renewed', { subject_id: s.id, period_start: renewal }))).json()) as { result: Record<string, unknown> };
    expect(renewed.result).toMatchObject({ status: 'applied', plan: 'basic', anchor: renewal });
    expect(await usedOf(s, 'exports')).toBe(0);
    expect(await usedOf(s, 'projects')).toBe(7);
  });

  it('answers 404 for an unknown subject without recording the event, so a retry applies it later', async () => {
    const subject = `later-${eventId()}`;
    const id = eventId();
    const body = event('subscription.plan_changed', { subject_id: subject, plan: 'pro' }, id);
    const res = await deliver(body);
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ code: 'not_found', field: 'data.subject_id' });
    expect(await recorded(id)).toEqual([]);
    await f.createSubject({ id: subject, plan: 'basic' });
    expect(((await (await deliver(body)).json()) as { result: { status: string } }).result.status).toBe('applied');
  });

  it('validates a signed event: bad JSON, missing fields, bad subject id → 400 naming the field; unknown types are recorded and ignored', async () => {
    const cases: [string, string][] = [
      ['{not json', 'body'],
      [JSON.stringify({ type: 'subscription.renewed', data: {} }), 'id'],
      [event('subscription.renewed', { subject_id: 'bad id ✗' }), 'data.subject_id'],
      [event('subscription.renewed', { subject_id: 'x', period_start: 'yesterday' }), 'data.period_start'],
      [event('subscription.plan_changed', { subject_id: 'x' }), 'data.plan'],
      // A body that is JSON but not an event object names the body itself.
      ['[]', 'body'],
      ['"subscription.renewed"', 'body'],
      ['42', 'body'],
      ['null', 'body'],
      [JSON.stringify({ id: 'evt_1', data: {} }), 'type'],
      [JSON.stringify({ id: 'evt_1', type: 'subscription.renewed', data: [] }), 'data'],
    ];
    for (const [body, field] of cases) {
      const res = await deliver(body);
      expect(res.status, body).toBe(400);
      expect(await res.json()).toMatchObject({ code: 'invalid_request', field });
    }
    const id = eventId();
    const ignored = (await (await deliver(event('invoice.paid', { anything: true }, id))).json()) as { result: { status: string } };
    expect(ignored.result.status).toBe('ignored');
    expect(await recorded(id)).toHaveLength(1);
  });
});
