import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PolicyInput } from '../../src/config/policy.js';
import { gatewayTestPolicy, startGatewayFixture, type GatewayFixture } from '../support/gateway.js';

/**
 * QG_SETTLE_WAIT_MS (src/redis/ride-along.ts): the end of a request waits to go to Redis
 * with this gateway's next call. The wait is long here (a second), so that only the
 * ordering it promises can make a request right after another pass.
 */
const WAIT_MS = 1_000;

/** The test policy plus a plan of one request at a time (no request rate). */
const onePolicy = (upstream: string): PolicyInput => {
  const base = gatewayTestPolicy(upstream);
  return { ...base, plans: { ...base.plans, one: { limits: { gens: 1_000, tokens: 1_000_000, exports: 1_000, projects: 100 }, concurrency: 1 } } };
};

describe('ends of requests held back for the next decision', () => {
  let gw: GatewayFixture;
  beforeAll(async () => {
    gw = await startGatewayFixture({ policy: onePolicy, env: { QG_SETTLE_WAIT_MS: String(WAIT_MS) } });
  });
  afterAll(async () => {
    await gw?.close();
  });

  const chat = (key: string) =>
    gw.request('/v1/chat/completions', { method: 'POST', key, json: { messages: [{ role: 'user', content: 'Say something about quotas.' }], max_tokens: 50 } });
  const leases = (subjectId: string) => gw.redis.zcard(gw.keys.concurrency(subjectId));

  it('are sent before the next decision: 30 requests in a row on a plan of one at a time all pass, each charged what it used', async () => {
    const subject = await gw.createSubject({ plan: 'one' });
    let used = 0;
    for (let i = 0; i < 30; i++) {
      const res = await chat(subject.key);
      expect(res.status, `request ${i + 1}`).toBe(200);
      used += ((await res.json()) as { usage: { total_tokens: number } }).usage.total_tokens;
    }
    // A usage read is a decision too: it takes the last request's end along first.
    const usage = (await (await gw.request('/v1/usage', { key: subject.key })).json()) as { metrics: { metric: string; used: number }[] };
    expect(usage.metrics.find((m) => m.metric === 'gens')?.used).toBe(30);
    expect(usage.metrics.find((m) => m.metric === 'tokens')?.used).toBe(used);
    expect(used, 'settled to what was used, not the reservations').not.toBe(30 * 50);
    expect(await leases(subject.id)).toBe(0);
  });

  it('go by themselves when no decision follows', async () => {
    const subject = await gw.createSubject({ plan: 'one' });
    expect((await chat(subject.key)).status).toBe(200);
    await expect.poll(() => leases(subject.id), { timeout: 10_000, interval: 50 }).toBe(0);
  });

  it('go before the gateway closes', async () => {
    // Closed at once after its answer, well within the wait: only the close can send the end.
    const other = await startGatewayFixture({ policy: onePolicy, env: { QG_SETTLE_WAIT_MS: String(WAIT_MS) } });
    try {
      const subject = await other.createSubject({ plan: 'one' });
      expect((await other.request('/v1/chat/completions', { method: 'POST', key: subject.key, json: { messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 } })).status).toBe(
        200,
      );
      await other.gateway.close();
      expect(await other.redis.zcard(other.keys.concurrency(subject.id))).toBe(0);
    } finally {
      await other.close();
    }
  });
});
