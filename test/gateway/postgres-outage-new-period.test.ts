import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/lib/clock.js';
import { startGatewayFixture, type GatewayFixture, type TestSubject } from '../support/gateway.js';
import { databaseUrl, uniquePrefix } from '../support/services.js';
import { startTcpProxy, targetOf, type TcpProxy } from '../support/tcp-proxy.js';
import { NEXT_PERIOD_START } from '../support/test-time.js';

/**
 * A period boundary inside a Postgres outage: every subject's first decision of the new
 * period finds its counter missing in Redis. Redis kept its partitions whole since before
 * the boundary (their intact marks say so), so that counter is 0 without asking Postgres —
 * except where Redis lost the partition, which must still wait for Postgres.
 */

const MINUTE = 60_000;

interface UsageEntry {
  metric: string;
  used: number;
  period_start: string | null;
}

describe('a new period begins while Postgres is unreachable', () => {
  let proxy: TcpProxy;
  let gw: GatewayFixture;
  const clock = new ManualClock(NEXT_PERIOD_START - 30 * MINUTE);
  let kept: TestSubject;
  let lost: TestSubject;

  beforeAll(async () => {
    proxy = await startTcpProxy(targetOf(databaseUrl()));
    gw = await startGatewayFixture({ env: { QG_KEY_PREFIX: uniquePrefix('pgnew'), DATABASE_URL: proxy.rewrite(databaseUrl()) }, clock });
    kept = await gw.createSubject({ plan: 'test' });
    // In another partition than `kept`, so losing its partition leaves kept's whole.
    for (let i = 0; ; i++) {
      const id = `${kept.id}-lost-${i}`;
      if (gw.keys.partitionOf(id) === gw.keys.partitionOf(kept.id)) continue;
      lost = await gw.createSubject({ plan: 'test', id });
      break;
    }
  });
  afterAll(async () => {
    proxy?.unblock();
    await gw?.close();
    await proxy?.close();
  });

  const consume = (subject: TestSubject) =>
    gw.request('/v1/consume', { method: 'POST', key: subject.key, json: { charges: [{ metric: 'gens', amount: 1 }] } }).then(async (r) => (await r.arrayBuffer(), r.status));
  async function traffic(subject: TestSubject, count: number): Promise<Record<number, number>> {
    const statuses = await Promise.all(Array.from({ length: count }, () => consume(subject)));
    return statuses.reduce<Record<number, number>>((n, s) => ({ ...n, [s]: (n[s] ?? 0) + 1 }), {});
  }
  const gens = async (subject: TestSubject) => {
    const res = await gw.request('/v1/usage', { key: subject.key });
    expect(res.status).toBe(200);
    return ((await res.json()) as { metrics: UsageEntry[] }).metrics.find((m) => m.metric === 'gens')!;
  };

  it('decides from Redis where Redis kept the partition whole, and waits for Postgres where it did not', async () => {
    // The old period: both subjects use their whole allowance (and their keys are verified, so mirrored).
    expect(await traffic(kept, 60)).toEqual({ 200: 50, 402: 10 });
    expect(await traffic(lost, 50)).toEqual({ 200: 50 });
    expect((await gens(kept)).used).toBe(50);

    proxy.block('refuse');
    clock.set(NEXT_PERIOD_START + MINUTE);
    // A partition Redis lost (a restart without persistence, a failed-over master) has lost its
    // mark with its keys. Only the mark goes here: grants and gauges wait for Postgres anyway,
    // so the 503s below can come from the missing mark alone.
    await gw.redis.del(gw.keys.intactSince(gw.keys.partitionOf(lost.id)));

    // A fresh allowance, exact under concurrency, with no Postgres.
    expect(await traffic(kept, 200)).toEqual({ 200: 50, 402: 150 });
    expect(await gens(kept)).toMatchObject({ used: 50, period_start: new Date(NEXT_PERIOD_START).toISOString() });
    // The lost partition's counters cannot be known without the ledger.
    expect(await traffic(lost, 10)).toEqual({ 503: 10 });

    proxy.unblock();
    clock.advance(1_000); // after a failure, Postgres is tried again a second later
    expect(await traffic(lost, 55)).toEqual({ 200: 50, 402: 5 });
    // Kept's counter was not reset by the return of Postgres.
    expect(await traffic(kept, 5)).toEqual({ 402: 5 });
  });
});
