import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePolicy } from '../../src/config/load-policy.js';
import { PgHydrator } from '../../src/ledger/pg-hydrator.js';
import { ManualClock } from '../../src/lib/clock.js';
import { QuotaEngine } from '../../src/quota/engine.js';
import { KeySchema } from '../../src/redis/keys.js';
import { startPrivateRedis, startPrivateRedisCluster, type PrivateRedis, type PrivateRedisCluster } from '../support/redis-server.js';
import { createTestPool } from '../support/services.js';
import { testPolicy, T0 } from '../support/engine.js';
import type { Pool } from 'pg';

let pool: Pool;
beforeAll(() => {
  pool = createTestPool();
});
afterAll(() => pool.end());

const policy = parsePolicy(testPolicy);
const subject = (id: string) => ({ id, plan: 'test', anchor: null });

describe('script loading', () => {
  let server: PrivateRedis;
  let redis: Redis;
  beforeAll(async () => {
    server = await startPrivateRedis();
    redis = new Redis(server.url);
  });
  afterAll(async () => {
    redis.disconnect();
    await server.dispose();
  });

  it('recovers when Redis forgets its scripts (SCRIPT FLUSH, as after a restart or failover)', async () => {
    const engine = new QuotaEngine({ redis, keys: new KeySchema('qg', 4), policy, hydrator: new PgHydrator(pool), clock: new ManualClock(T0) });
    await engine.scripts.preload();
    expect(await engine.scripts.loaded()).toBe(true);
    const s = subject('flush-1');
    expect((await engine.consume({ subject: s, charges: [{ metric: 'gens', amount: 1 }] })).outcome).toBe('allowed');
    await redis.script('FLUSH');
    expect(await engine.scripts.loaded()).toBe(false);
    expect((await engine.consume({ subject: s, charges: [{ metric: 'gens', amount: 1 }] })).outcome).toBe('allowed');
    expect((await engine.usage(s, ['gens']))[0]!.used).toBe(2);
  });
});

describe('on a Redis Cluster', () => {
  let cluster: PrivateRedisCluster;
  let client: Cluster;
  beforeAll(async () => {
    cluster = await startPrivateRedisCluster(3);
    client = new Cluster([...cluster.startupNodes]);
  });
  afterAll(async () => {
    client.disconnect();
    await cluster.stop();
  });

  it('runs every script: each one touches keys of a single hash slot', async () => {
    const keys = new KeySchema('qg', 16);
    const clock = new ManualClock(T0);
    const engine = new QuotaEngine({ redis: client, keys, policy, hydrator: new PgHydrator(pool), clock });
    await engine.scripts.preload();
    expect(await engine.scripts.loaded()).toBe(true);
    // Subjects over every partition, so every master runs scripts.
    const subjects = Array.from({ length: 32 }, (_, i) => subject(`cluster-${i}`));
    expect(new Set(subjects.map((s) => keys.partitionOf(s.id))).size).toBeGreaterThan(8);
    for (const s of subjects) {
      const d = await engine.consume({
        subject: s,
        charges: [
          { metric: 'gens', amount: 2, held: true },
          { metric: 'tokens', amount: 100, held: true },
          { metric: 'projects', amount: 1 },
        ],
        rateClass: 'chat',
        concurrency: true,
        idempotency: { key: 'k', fingerprint: 'f' },
      });
      if (d.outcome !== 'allowed' || !d.hold) throw new Error(`expected a hold, got ${d.outcome}`);
      await engine.settle(s, d.hold, { tokens: 10 });
      expect((await engine.check({ subject: s, charges: [{ metric: 'gens', amount: 1 }], idempotency: { key: 'k', fingerprint: 'f' } })).outcome).toBe('replayed');
      const r = await engine.consume({ subject: s, charges: [{ metric: 'tokens', amount: 5, held: true }] });
      if (r.outcome === 'allowed' && r.hold) await engine.returnHold(s.id, r.hold, 'refund');
      await engine.release(s, 'projects', 1);
      await engine.grant(s, { metric: 'exports', amount: 3, expiresAt: null, id: 'g' }, {});
      await engine.revokeGrant(s, 'exports', 'g', {});
      await engine.adjust(s, 'gens', 1, {});
      await engine.reset(s, ['tokens'], {});
      expect((await engine.usage(s, ['gens', 'tokens', 'projects'])).map((u) => u.used)).toEqual([3, 0, 0]);
    }
    for (let p = 0; p < 16; p++) await engine.expireHolds(p);
  });
});

describe('ending holds', () => {
  let server: PrivateRedis;
  let redis: Redis;
  beforeAll(async () => {
    server = await startPrivateRedis();
    redis = new Redis(server.url);
  });
  afterAll(async () => {
    redis.disconnect();
    await server.dispose();
  });

  it('an expiry before the deadline is refused (not due) and changes nothing', async () => {
    const engine = new QuotaEngine({ redis, keys: new KeySchema('qg', 4), policy, hydrator: new PgHydrator(pool), clock: new ManualClock(T0) });
    const s = subject('due-1');
    const d = await engine.consume({ subject: s, charges: [{ metric: 'tokens', amount: 10, held: true }], holdTtlMs: 1000 });
    if (d.outcome !== 'allowed' || !d.hold) throw new Error('expected a hold');
    expect(await engine.returnHold(s.id, d.hold, 'expire')).toEqual({ outcome: 'not_due' });
    expect((await engine.usage(s, ['tokens']))[0]!.used).toBe(10);
  });
});
