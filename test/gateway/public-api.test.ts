import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGatewayFixture, type GatewayFixture, type TestSubject } from '../support/gateway.js';

/**
 * The public decision API (SPEC "HTTP interface"), over real HTTP against a real gateway:
 * GET /v1/usage, POST /v1/consume and /v1/check, reservations, and POST /v1/release.
 * Plan `test`: gens 50, tokens 1200, exports 5, projects 5 (a gauge); no rate limit.
 */

let gw: GatewayFixture;
beforeAll(async () => {
  gw = await startGatewayFixture();
});
afterAll(() => gw?.close());

interface MetricUsage {
  metric: string;
  kind: 'counter' | 'gauge';
  limit: number | null;
  used: number;
  remaining: number | null;
  grant_balance: number;
  period_start: string | null;
  resets_at: string | null;
}
interface UsageEntry extends MetricUsage {
  percent: number | null;
  status: 'ok' | 'warning' | 'critical' | 'exceeded';
}
interface Answer<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: T;
}

type Charges = { metric: string; amount: number }[];

/** Sends a request and reads its whole body as JSON. */
async function call<T = Record<string, unknown>>(subject: TestSubject, method: string, path: string, json?: unknown, headers?: Record<string, string>): Promise<Answer<T>> {
  const res = await gw.request(path, { method, key: subject.key, json, headers });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text === '' ? null : JSON.parse(text)) as T };
}

const consume = (subject: TestSubject, charges: Charges, headers?: Record<string, string>, extra: Record<string, unknown> = {}) =>
  call<{ allowed: boolean; request_id: string; metrics: MetricUsage[]; code?: string; metric?: string; field?: string }>(
    subject,
    'POST',
    '/v1/consume',
    { charges, ...extra },
    headers,
  );

/** Consumes and insists it was allowed. */
async function consumeOk(subject: TestSubject, charges: Charges): Promise<void> {
  const res = await consume(subject, charges);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
}

async function usage(subject: TestSubject): Promise<{ subject: string; plan: string; metrics: Record<string, UsageEntry> }> {
  const res = await call<{ subject: string; plan: string; metrics: UsageEntry[] }>(subject, 'GET', '/v1/usage');
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  return { ...res.body, metrics: Object.fromEntries(res.body.metrics.map((m) => [m.metric, m])) };
}

const eventsOf = async (subject: TestSubject, kind?: string) => (await gw.events(subject)).filter((e) => kind === undefined || e.kind === kind);

describe('GET /v1/usage', () => {
  it('reports plan, period and per metric limit, used, remaining, grant balance, percent and status', async () => {
    const subject = await gw.createSubject();
    const u = await usage(subject);
    expect(u.subject).toBe(subject.id);
    expect(u.plan).toBe('test');
    expect(Object.keys(u.metrics).sort()).toEqual(['exports', 'gens', 'projects', 'tokens']);
    for (const [metric, limit] of [
      ['gens', 50],
      ['tokens', 1200],
      ['exports', 5],
    ] as const) {
      const m = u.metrics[metric]!;
      expect(m).toMatchObject({ kind: 'counter', limit, used: 0, remaining: limit, grant_balance: 0, percent: 0, status: 'ok' });
      // A counter's period: a start in the past and a reset in the future, a month apart at most.
      const start = Date.parse(m.period_start!);
      const resets = Date.parse(m.resets_at!);
      expect(start).toBeLessThanOrEqual(Date.now());
      expect(resets).toBeGreaterThan(Date.now());
      expect(resets - start).toBeLessThanOrEqual(31 * 86_400_000);
    }
    expect(u.metrics.projects).toMatchObject({ kind: 'gauge', limit: 5, used: 0, remaining: 5, period_start: null, resets_at: null, status: 'ok' });
  });

  it('status follows the thresholds: ok < 80 % ≤ warning < 95 % ≤ critical < 100 % ≤ exceeded', async () => {
    const subject = await gw.createSubject();
    // tokens: limit 1200 → 80 % = 960, 95 % = 1140.
    const steps: [number, number, UsageEntry['status']][] = [
      [959, 79.9, 'ok'],
      [960, 80, 'warning'],
      [1139, 94.9, 'warning'],
      [1140, 95, 'critical'],
      [1199, 99.9, 'critical'],
      [1200, 100, 'exceeded'],
    ];
    let used = 0;
    for (const [target, percent, status] of steps) {
      await consumeOk(subject, [{ metric: 'tokens', amount: target - used }]);
      used = target;
      const m = (await usage(subject)).metrics.tokens!;
      expect(m, `at ${target}`).toMatchObject({ used: target, remaining: 1200 - target, percent, status });
    }
    // The same thresholds for a gauge: 4 of 5 projects is 80 %.
    await consumeOk(subject, [{ metric: 'projects', amount: 3 }]);
    expect((await usage(subject)).metrics.projects).toMatchObject({ used: 3, percent: 60, status: 'ok' });
    await consumeOk(subject, [{ metric: 'projects', amount: 1 }]);
    expect((await usage(subject)).metrics.projects).toMatchObject({ used: 4, percent: 80, status: 'warning' });
  });

  it('counts usable grants in remaining, grant_balance and percent', async () => {
    const subject = await gw.createSubject();
    await gw.gateway.deps.engine.grant({ id: subject.id, plan: subject.plan, anchor: null }, { metric: 'gens', amount: 10, expiresAt: null }, { reason: 'test' });
    await consumeOk(subject, [{ metric: 'gens', amount: 48 }]);
    // 48 used of 50 + 10: remaining 12, 80 %.
    expect((await usage(subject)).metrics.gens).toMatchObject({ limit: 50, used: 48, remaining: 12, grant_balance: 10, percent: 80, status: 'warning' });
    await consumeOk(subject, [{ metric: 'gens', amount: 12 }]);
    expect((await usage(subject)).metrics.gens).toMatchObject({ remaining: 0, status: 'exceeded' });
  });

  it('an unlimited metric has no percent and is always ok', async () => {
    const subject = await gw.createSubject({ plan: 'unlimited' });
    await consumeOk(subject, [{ metric: 'tokens', amount: 1_000_000 }]);
    const u = await usage(subject);
    expect(u.plan).toBe('unlimited');
    expect(u.metrics.tokens).toMatchObject({ limit: null, used: 1_000_000, remaining: null, percent: null, status: 'ok' });
  });

  it('equals what the proxy and the API charged', async () => {
    const subject = await gw.createSubject();
    let tokens = 0;
    for (const max_tokens of [10, undefined]) {
      const res = await gw.request('/v1/chat/completions', {
        method: 'POST',
        key: subject.key,
        json: { messages: [{ role: 'user', content: 'count me exactly' }], ...(max_tokens === undefined ? {} : { max_tokens }) },
      });
      const body = (await res.json()) as { usage: { total_tokens: number } };
      expect(res.status).toBe(200);
      tokens += body.usage.total_tokens;
    }
    for (const path of ['/v1/exports', '/v1/projects']) {
      const res = await gw.request(path, { method: 'POST', key: subject.key, json: { name: 'p' } });
      await res.arrayBuffer();
      expect(res.status).toBeLessThan(300);
    }
    await consumeOk(subject, [
      { metric: 'gens', amount: 3 },
      { metric: 'tokens', amount: 50 },
      { metric: 'exports', amount: 1 },
    ]);
    await gw.settled();

    const u = await usage(subject);
    expect(u.metrics.gens).toMatchObject({ used: 2 + 3, remaining: 50 - 5 });
    expect(u.metrics.tokens).toMatchObject({ used: tokens + 50, remaining: 1200 - tokens - 50 });
    expect(u.metrics.exports).toMatchObject({ used: 2 });
    expect(u.metrics.projects).toMatchObject({ used: 1 });
    // The same numbers as the engine and the ledger events.
    for (const metric of ['gens', 'tokens', 'exports', 'projects']) {
      expect(u.metrics[metric]!.used, metric).toBe(await gw.used(subject, metric));
      const sum = (await eventsOf(subject)).filter((e) => e.metric === metric).reduce((s, e) => s + e.delta, 0);
      expect(sum, metric).toBe(u.metrics[metric]!.used);
    }
  });
});

describe('POST /v1/consume', () => {
  it('allows and charges, answering each metric with RateLimit fields', async () => {
    const subject = await gw.createSubject();
    const res = await consume(subject, [
      { metric: 'gens', amount: 2 },
      { metric: 'tokens', amount: 100 },
    ]);
    expect(res.status).toBe(200);
    expect(res.body.allowed).toBe(true);
    expect(res.body.request_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.body.metrics).toHaveLength(2);
    expect(res.body.metrics[0]).toMatchObject({ metric: 'gens', kind: 'counter', limit: 50, used: 2, remaining: 48, grant_balance: 0 });
    expect(res.body.metrics[1]).toMatchObject({ metric: 'tokens', limit: 1200, used: 100, remaining: 1100 });
    expect(res.headers.get('ratelimit-policy')).toMatch(/"gens";q=50;w=\d+/);
    expect(res.headers.get('ratelimit')).toMatch(/"gens";r=48;t=\d+/);
    expect(await gw.used(subject, 'gens')).toBe(2);
    expect(await gw.used(subject, 'tokens')).toBe(100);
    expect((await eventsOf(subject, 'consume')).map((e) => [e.metric, e.delta])).toEqual([
      ['gens', 2],
      ['tokens', 100],
    ]);
  });

  it('is all or nothing: when the second metric runs out → 402 naming it, the first is not charged', async () => {
    const subject = await gw.createSubject();
    await consumeOk(subject, [{ metric: 'exports', amount: 4 }]);
    const res = await consume(subject, [
      { metric: 'gens', amount: 1 },
      { metric: 'exports', amount: 2 },
    ]);
    expect(res.status).toBe(402);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ code: 'quota_exceeded', metric: 'exports', limit: 5, used: 4, remaining: 1, requested: 2 });
    expect(res.body).toHaveProperty('resets_at');
    expect(res.body).toHaveProperty('upgrade_url');
    expect(await gw.used(subject, 'gens')).toBe(0);
    expect(await gw.used(subject, 'exports')).toBe(4);
    expect(await eventsOf(subject, 'consume')).toHaveLength(1);
    // What still fits is still allowed.
    await consumeOk(subject, [
      { metric: 'gens', amount: 1 },
      { metric: 'exports', amount: 1 },
    ]);
    expect(await gw.used(subject, 'gens')).toBe(1);
  });

  describe('idempotency', () => {
    for (const via of ['header', 'body'] as const) {
      it(`via the ${via}: a replay answers 200 + Idempotent-Replayed: true and is charged once`, async () => {
        const subject = await gw.createSubject();
        const key = `order-${via}-1`;
        const send = (amount: number) =>
          via === 'header'
            ? consume(subject, [{ metric: 'gens', amount }], { 'idempotency-key': key })
            : consume(subject, [{ metric: 'gens', amount }], undefined, { idempotency_key: key });
        const first = await send(3);
        expect(first.status).toBe(200);
        expect(first.headers.get('idempotent-replayed')).toBeNull();
        for (let i = 0; i < 3; i++) {
          const replay = await send(3);
          expect(replay.status).toBe(200);
          expect(replay.headers.get('idempotent-replayed')).toBe('true');
          expect(replay.body.request_id).toBe(first.body.request_id);
          expect(replay.body.metrics).toEqual(first.body.metrics);
        }
        expect(await gw.used(subject, 'gens')).toBe(3);
        expect(await eventsOf(subject, 'consume')).toHaveLength(1);

        // The same key with another amount is another request.
        const other = await send(4);
        expect(other.status).toBe(422);
        expect(other.body.code).toBe('idempotency_mismatch');
        expect(await gw.used(subject, 'gens')).toBe(3);

        // Keys are scoped to the subject: another subject may use the same key.
        const stranger = await gw.createSubject();
        const theirs = await consume(stranger, [{ metric: 'gens', amount: 3 }], { 'idempotency-key': key });
        expect(theirs.status).toBe(200);
        expect(theirs.headers.get('idempotent-replayed')).toBeNull();
        expect(await gw.used(stranger, 'gens')).toBe(3);
      });
    }

    it('a header and a body key that differ → 400 naming idempotency_key; the same key in both is fine', async () => {
      const subject = await gw.createSubject();
      const res = await consume(subject, [{ metric: 'gens', amount: 1 }], { 'idempotency-key': 'a' }, { idempotency_key: 'b' });
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ code: 'invalid_request', field: 'idempotency_key' });
      expect(await gw.used(subject, 'gens')).toBe(0);
      const both = await consume(subject, [{ metric: 'gens', amount: 1 }], { 'idempotency-key': 'a' }, { idempotency_key: 'a' });
      expect(both.status).toBe(200);
      const replay = await consume(subject, [{ metric: 'gens', amount: 1 }], { 'idempotency-key': 'a' });
      expect(replay.headers.get('idempotent-replayed')).toBe('true');
      expect(await gw.used(subject, 'gens')).toBe(1);
    });
  });

  it('300 concurrent consumes of 1 for a subject with 50 gens → exactly 50 allowed', async () => {
    const subject = await gw.createSubject();
    const answers = await Promise.all(Array.from({ length: 300 }, () => consume(subject, [{ metric: 'gens', amount: 1 }])));
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(50);
    expect(statuses.filter((s) => s === 402)).toHaveLength(250);
    expect(answers.filter((a) => a.status === 402).every((a) => a.body.code === 'quota_exceeded' && a.body.metric === 'gens')).toBe(true);
    // Every allowed answer saw a distinct count: 49, 48, … 0 remaining.
    const remaining = answers.filter((a) => a.status === 200).map((a) => a.body.metrics[0]!.remaining);
    expect(new Set(remaining).size).toBe(50);
    expect(await gw.used(subject, 'gens')).toBe(50);
    expect(await eventsOf(subject, 'consume')).toHaveLength(50);
  });
});

describe('POST /v1/check', () => {
  it('decides without applying', async () => {
    const subject = await gw.createSubject();
    await consumeOk(subject, [{ metric: 'gens', amount: 10 }]);
    const eventsBefore = (await gw.events(subject)).length;
    for (let i = 0; i < 3; i++) {
      const res = await call<{ allowed: boolean; metrics: MetricUsage[] }>(subject, 'POST', '/v1/check', { charges: [{ metric: 'gens', amount: 40 }] });
      expect(res.status).toBe(200);
      expect(res.body.allowed).toBe(true);
      expect(res.body.metrics[0]).toMatchObject({ metric: 'gens', used: 10, remaining: 40 });
    }
    expect(await gw.used(subject, 'gens')).toBe(10);
    expect(await gw.events(subject)).toHaveLength(eventsBefore);
  });

  it('answers allowed: false with reason and metric when it would deny, changing nothing', async () => {
    const subject = await gw.createSubject();
    await consumeOk(subject, [{ metric: 'exports', amount: 5 }]);
    const eventsBefore = (await gw.events(subject)).length;
    const res = await call<{ allowed: boolean; reason?: string; metric?: string; metrics: MetricUsage[] }>(subject, 'POST', '/v1/check', {
      charges: [
        { metric: 'gens', amount: 1 },
        { metric: 'exports', amount: 1 },
      ],
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ allowed: false, reason: 'quota', metric: 'exports' });
    expect(res.body.metrics.find((m) => m.metric === 'exports')).toMatchObject({ used: 5, remaining: 0 });
    expect(await gw.used(subject, 'gens')).toBe(0);
    expect(await gw.events(subject)).toHaveLength(eventsBefore);
    // Consume agrees with the check.
    const real = await consume(subject, [
      { metric: 'gens', amount: 1 },
      { metric: 'exports', amount: 1 },
    ]);
    expect(real.status).toBe(402);
    expect(real.body.metric).toBe('exports');
  });
});

describe('reservations', () => {
  type Reservation = { id: string; expires_at: string; metrics: MetricUsage[]; code?: string };
  const reserve = (subject: TestSubject, charges: Charges, extra: Record<string, unknown> = {}) => call<Reservation>(subject, 'POST', '/v1/reservations', { charges, ...extra });
  const settle = (subject: TestSubject, id: string, actual: unknown) =>
    call<{ id: string; metrics: MetricUsage[]; code?: string; field?: string }>(subject, 'POST', `/v1/reservations/${id}/settle`, { actual });
  const release = (subject: TestSubject, id: string) => call<{ id: string; metrics: MetricUsage[]; code?: string }>(subject, 'DELETE', `/v1/reservations/${id}`);

  it('create → 201 with id and expires_at; the reserved units count as used', async () => {
    const subject = await gw.createSubject();
    const before = Date.now();
    const res = await reserve(subject, [{ metric: 'tokens', amount: 500 }]);
    expect(res.status).toBe(201);
    expect(res.body.id).toMatch(/^[0-9a-f-]{36}$/);
    const expires = Date.parse(res.body.expires_at);
    // Default TTL: 10 minutes.
    expect(expires).toBeGreaterThanOrEqual(before + 600_000 - 1_000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 600_000 + 1_000);
    expect(res.body.metrics[0]).toMatchObject({ metric: 'tokens', used: 500, remaining: 700 });
    expect(await gw.used(subject, 'tokens')).toBe(500);

    const short = await reserve(subject, [{ metric: 'gens', amount: 1 }], { ttl_seconds: 30 });
    expect(short.status).toBe(201);
    expect(Date.parse(short.body.expires_at)).toBeLessThanOrEqual(Date.now() + 31_000);

    // A reservation that does not fit is denied like a consume.
    const denied = await reserve(subject, [{ metric: 'tokens', amount: 701 }]);
    expect(denied.status).toBe(402);
    expect(denied.body).toMatchObject({ code: 'quota_exceeded', metric: 'tokens' });
    expect(await gw.used(subject, 'tokens')).toBe(500);
  });

  it('settle below the reservation gives the difference back', async () => {
    const subject = await gw.createSubject();
    const { body } = await reserve(subject, [{ metric: 'tokens', amount: 500 }]);
    const res = await settle(subject, body.id, 320);
    expect(res.status).toBe(200);
    expect(res.body.id).toBe(body.id);
    expect(res.body.metrics[0]).toMatchObject({ metric: 'tokens', used: 320, remaining: 880 });
    expect(await gw.used(subject, 'tokens')).toBe(320);
    expect((await usage(subject)).metrics.tokens!.used).toBe(320);
  });

  it('settle above the reservation records the overage; the next consume is denied', async () => {
    const subject = await gw.createSubject();
    const { body } = await reserve(subject, [{ metric: 'tokens', amount: 500 }]);
    const res = await settle(subject, body.id, 1250);
    expect(res.status).toBe(200);
    expect(await gw.used(subject, 'tokens')).toBe(1250);
    const next = await consume(subject, [{ metric: 'tokens', amount: 1 }]);
    expect(next.status).toBe(402);
    expect(next.body).toMatchObject({ code: 'quota_exceeded', metric: 'tokens' });
    expect((await usage(subject)).metrics.tokens).toMatchObject({ used: 1250, remaining: 0, status: 'exceeded' });
  });

  it('release (DELETE) gives everything back', async () => {
    const subject = await gw.createSubject();
    const { body } = await reserve(subject, [
      { metric: 'gens', amount: 5 },
      { metric: 'tokens', amount: 400 },
    ]);
    expect(await gw.used(subject, 'tokens')).toBe(400);
    const res = await release(subject, body.id);
    expect(res.status).toBe(200);
    expect(res.body.metrics.map((m) => [m.metric, m.used])).toEqual([
      ['gens', 0],
      ['tokens', 0],
    ]);
    expect(await gw.used(subject, 'gens')).toBe(0);
    expect(await gw.used(subject, 'tokens')).toBe(0);
  });

  it('settling or releasing twice → 404 not_found, and nothing moves', async () => {
    const subject = await gw.createSubject();
    const a = (await reserve(subject, [{ metric: 'tokens', amount: 100 }])).body.id;
    expect((await settle(subject, a, 60)).status).toBe(200);
    for (const again of [await settle(subject, a, 10), await release(subject, a)]) {
      expect(again.status).toBe(404);
      expect(again.body.code).toBe('not_found');
    }
    const b = (await reserve(subject, [{ metric: 'tokens', amount: 100 }])).body.id;
    expect((await release(subject, b)).status).toBe(200);
    for (const again of [await release(subject, b), await settle(subject, b, 10)]) {
      expect(again.status).toBe(404);
      expect(again.body.code).toBe('not_found');
    }
    expect(await gw.used(subject, 'tokens')).toBe(60);
  });

  it("another subject's key cannot settle or release it (404); the owner still can", async () => {
    const owner = await gw.createSubject();
    const stranger = await gw.createSubject();
    const { body } = await reserve(owner, [{ metric: 'tokens', amount: 200 }]);
    expect(await settle(stranger, body.id, 0)).toMatchObject({ status: 404, body: { code: 'not_found' } });
    expect(await release(stranger, body.id)).toMatchObject({ status: 404, body: { code: 'not_found' } });
    expect(await gw.used(owner, 'tokens')).toBe(200);
    expect(await gw.used(stranger, 'tokens')).toBe(0);
    expect((await settle(owner, body.id, 150)).status).toBe(200);
    expect(await gw.used(owner, 'tokens')).toBe(150);
  });

  it('a multi-metric reservation: a bare number → 400; a metric not in it → 400; per-metric actuals settle', async () => {
    const subject = await gw.createSubject();
    const { body } = await reserve(subject, [
      { metric: 'gens', amount: 2 },
      { metric: 'tokens', amount: 300 },
    ]);
    const bare = await settle(subject, body.id, 100);
    expect(bare.status).toBe(400);
    expect(bare.body).toMatchObject({ code: 'invalid_request', field: 'actual' });
    const stranger = await settle(subject, body.id, { tokens: 100, exports: 1 });
    expect(stranger.status).toBe(400);
    expect(stranger.body).toMatchObject({ code: 'invalid_request', field: 'actual.exports' });
    // The failed attempts left the reservation as it was.
    expect(await gw.used(subject, 'gens')).toBe(2);
    expect(await gw.used(subject, 'tokens')).toBe(300);
    // Unnamed lines keep their reservation.
    const ok = await settle(subject, body.id, { tokens: 120 });
    expect(ok.status).toBe(200);
    expect(await gw.used(subject, 'gens')).toBe(2);
    expect(await gw.used(subject, 'tokens')).toBe(120);
  });

  it('a one-metric reservation also settles with {metric: amount}; another metric there → 400', async () => {
    const subject = await gw.createSubject();
    const { body } = await reserve(subject, [{ metric: 'tokens', amount: 300 }]);
    expect(await settle(subject, body.id, { gens: 1 })).toMatchObject({ status: 400, body: { field: 'actual.gens' } });
    expect((await settle(subject, body.id, { tokens: 7 })).status).toBe(200);
    expect(await gw.used(subject, 'tokens')).toBe(7);
  });
});

describe('POST /v1/release', () => {
  type Released = { metric: string; released: number; used: number; code?: string; field?: string };
  const releaseGauge = (subject: TestSubject, body: Record<string, unknown>, headers?: Record<string, string>) => call<Released>(subject, 'POST', '/v1/release', body, headers);

  it('lowers a gauge, never below 0, reporting the units actually taken', async () => {
    const subject = await gw.createSubject();
    await consumeOk(subject, [{ metric: 'projects', amount: 3 }]);
    expect(await releaseGauge(subject, { metric: 'projects', amount: 2 })).toMatchObject({
      status: 200,
      body: { metric: 'projects', released: 2, used: 1 },
    });
    expect(await releaseGauge(subject, { metric: 'projects', amount: 5 })).toMatchObject({
      status: 200,
      body: { metric: 'projects', released: 1, used: 0 },
    });
    expect(await releaseGauge(subject, { metric: 'projects', amount: 1 })).toMatchObject({
      status: 200,
      body: { released: 0, used: 0 },
    });
    expect(await gw.used(subject, 'projects')).toBe(0);
    // Released room can be used again, up to the limit.
    await consumeOk(subject, [{ metric: 'projects', amount: 5 }]);
    expect((await consume(subject, [{ metric: 'projects', amount: 1 }])).status).toBe(402);
  });

  it('a release never needs quota and is idempotent with a key', async () => {
    const subject = await gw.createSubject();
    await consumeOk(subject, [{ metric: 'projects', amount: 5 }]);
    const first = await releaseGauge(subject, { metric: 'projects', amount: 2 }, { 'idempotency-key': 'del-1' });
    expect(first).toMatchObject({ status: 200, body: { released: 2, used: 3 } });
    const replay = await releaseGauge(subject, { metric: 'projects', amount: 2, idempotency_key: 'del-1' });
    expect(replay.status).toBe(200);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(await gw.used(subject, 'projects')).toBe(3);
    const mismatch = await releaseGauge(subject, { metric: 'projects', amount: 1 }, { 'idempotency-key': 'del-1' });
    expect(mismatch).toMatchObject({ status: 422, body: { code: 'idempotency_mismatch' } });
    expect(await gw.used(subject, 'projects')).toBe(3);
  });

  it('on a counter metric → 400 naming metric, nothing changes', async () => {
    const subject = await gw.createSubject();
    await consumeOk(subject, [{ metric: 'gens', amount: 4 }]);
    const res = await releaseGauge(subject, { metric: 'gens', amount: 1 });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ code: 'invalid_request', field: 'metric' });
    expect(await gw.used(subject, 'gens')).toBe(4);
    expect(await eventsOf(subject, 'release')).toHaveLength(0);
  });
});
