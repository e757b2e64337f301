import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PolicyInput } from '../../src/config/policy.js';
import { ManualClock } from '../../src/lib/clock.js';
import type { WorkerHandle } from '../../src/worker/worker.js';
import { startGatewayFixture, type GatewayFixture } from '../support/gateway.js';
import { compareLedger, startTestWorker, waitForDrain } from '../support/ledger-checks.js';
import { databaseUrl } from '../support/services.js';
import { T0 } from '../support/test-time.js';

/**
 * A tokens-per-minute window inside a monthly allowance: every request reserves its tokens
 * against both in the one consume script; the window admits no more than its limit however
 * many requests race for it, and the monthly counter stays exact (ledger == Redis).
 */

const WINDOW = 20_000;
const PERIOD = 1_000_000;

const policy = (upstream: string): PolicyInput => ({
  metrics: { tokens: { kind: 'counter' }, calls: { kind: 'counter' } },
  plans: { test: { limits: { tokens: { period: PERIOD, minute: WINDOW, day: 900_000 }, calls: null } } },
  routes: [
    {
      name: 'export',
      match: { method: 'POST', path: '/v1/exports' },
      upstream,
      // The request says what it may use; the demo's x-usage-tokens header what it did.
      charge: [
        { metric: 'calls', amount: 1 },
        { metric: 'tokens', reserve: { from: 'header.x-tokens', default: 1 }, settle: { from: 'header.x-usage-tokens' } },
      ],
    },
  ],
});

let gw: GatewayFixture;
let worker: WorkerHandle;
// Mid-minute, so the whole burst falls in one window; moved on by the test.
const clock = new ManualClock(T0 + 30_000);
beforeAll(async () => {
  gw = await startGatewayFixture({ policy, clock });
  worker = await startTestWorker({ keys: gw.keys, redisUrl: gw.redisUrl, databaseUrl: databaseUrl(), policy: gw.policy, clock });
});
afterAll(async () => {
  await worker?.close();
  await gw?.close();
});

const reserveOf = (i: number) => 50 + (i % 100);
const usedOf = (i: number) => 10 + (i % 37);

describe('several windows per metric', () => {
  it('500 concurrent requests: the minute window admits at most its limit; the month counts exactly what was settled', async () => {
    const subject = await gw.createSubject();
    const responses = await Promise.all(
      Array.from({ length: 500 }, (_, i) =>
        gw.request('/v1/exports', { method: 'POST', key: subject.key, headers: { 'x-tokens': String(reserveOf(i)), 'x-demo-usage-header': String(usedOf(i)) } }),
      ),
    );
    const admitted = responses.flatMap((r, i) => (r.status === 202 ? [i] : []));
    const denied = responses.filter((r) => r.status === 429);
    expect(admitted.length + denied.length).toBe(500);
    const reserved = admitted.reduce((n, i) => n + reserveOf(i), 0);
    expect(reserved).toBeLessThanOrEqual(WINDOW);
    // The window filled up: what is left is less than the largest request that was refused.
    expect(WINDOW - reserved).toBeLessThan(150);
    expect(admitted.length).toBeGreaterThan(100);

    const problem = (await denied[0]!.json()) as { type: string; metric: string; window: string; limit: number };
    expect(problem).toMatchObject({ metric: 'tokens', window: 'minute', limit: WINDOW });
    expect(Number(denied[0]!.headers.get('retry-after'))).toBe(30);
    await Promise.all(responses.map((r) => (r.bodyUsed ? undefined : r.body?.cancel())));

    // The month: exactly the usage the admitted requests reported, in Redis and the ledger.
    await gw.settled();
    const settled = admitted.reduce((n, i) => n + usedOf(i), 0);
    expect(await gw.used(subject, 'tokens')).toBe(settled);
    expect(await gw.used(subject, 'calls')).toBe(admitted.length);
    await waitForDrain(gw.redis, gw.keys);
    const { rows, mismatches } = await compareLedger(gw.pool, gw.redis, gw.keys, [subject.id]);
    expect(mismatches).toEqual([]);
    expect(rows.find((r) => r.metric === 'tokens')?.ledger).toBe(settled);
    // Windows are rate limits: no ledger rows of their own.
    expect(rows.map((r) => r.metric).sort()).toEqual(['calls', 'tokens']);
  });

  it('reports every window in the RateLimit fields, and a new minute admits again', async () => {
    const subject = await gw.createSubject();
    const call = (tokens: number) => gw.request('/v1/exports', { method: 'POST', key: subject.key, headers: { 'x-tokens': String(tokens), 'x-demo-usage-header': '1' } });
    const first = await call(WINDOW - 100);
    expect(first.status).toBe(202);
    expect(first.headers.get('ratelimit-policy')).toBe(
      `"tokens";q=${PERIOD};w=${first.headers.get('ratelimit-policy')!.match(/w=(\d+)/)![1]}, "tokens/minute";q=${WINDOW};w=60, "tokens/day";q=900000;w=86400`,
    );
    expect(first.headers.get('ratelimit')).toMatch(new RegExp(`"tokens/minute";r=100;t=30, "tokens/day";r=${900_000 - (WINDOW - 100)};t=\\d+$`));
    expect((await call(101)).status).toBe(429);
    // GET /v1/usage lists the windows beside the period.
    const usage = (await (await gw.request('/v1/usage', { key: subject.key })).json()) as { metrics: { metric: string; windows?: unknown[] }[] };
    expect(usage.metrics.find((m) => m.metric === 'tokens')?.windows).toEqual([
      { window: 'minute', limit: WINDOW, used: WINDOW - 100, remaining: 100, resets_at: new Date(T0 + 60_000).toISOString() },
      { window: 'day', limit: 900_000, used: WINDOW - 100, remaining: 900_000 - WINDOW + 100, resets_at: new Date(T0 - (T0 % 86_400_000) + 86_400_000).toISOString() },
    ]);
    clock.advance(60_000);
    const next = await call(101);
    expect(next.status).toBe(202);
    expect(next.headers.get('ratelimit')).toContain(`"tokens/minute";r=${WINDOW - 101};t=30`);
  });
});
