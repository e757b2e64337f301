import { Cluster, Redis } from 'ioredis';
import type { Pool } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPrivateRedis, startPrivateRedisCluster, type PrivateRedis } from './support/redis-server.js';
import { cleanupPrefix, createTestPool, createTestRedis, serviceSources, uniquePrefix } from './support/services.js';

describe('test harness: database', () => {
  let pool: Pool;
  beforeAll(() => {
    pool = createTestPool();
  });
  afterAll(() => pool.end());

  it('runs against its own migrated database', async () => {
    const { rows } = await pool.query<{ db: string; name: string }>('SELECT current_database() AS db, name FROM pgmigrations ORDER BY id');
    expect(rows[0]?.db).toMatch(/^qg_test_/);
    expect(rows.map((r) => r.name)).toContain('001_initial');

    const tables = await pool.query<{ tablename: string }>(`SELECT tablename FROM pg_tables WHERE schemaname = 'public'`);
    expect(tables.rows.map((r) => r.tablename)).toEqual(
      expect.arrayContaining([
        'subjects',
        'api_keys',
        'grants',
        'usage_events',
        'usage_events_default',
        'usage_counters',
        'audit_log',
        'webhook_events',
        'reconciliation_runs',
        'reconciliation_drifts',
        'ledger_idempotency',
      ]),
    );
  });

  it('says where its services came from', () => {
    const sources = serviceSources();
    expect(['env', 'local', 'container', 'spawned']).toContain(sources.redis);
    expect(['env', 'local', 'container', 'spawned']).toContain(sources.postgres);
  });
});

describe('test harness: Redis key prefixes', () => {
  const redis = createTestRedis();
  afterAll(() => redis.quit());

  it('gives every caller a distinct prefix, none the start of another', () => {
    const prefixes = [uniquePrefix(), uniquePrefix('a'), uniquePrefix('a'), uniquePrefix('ab'), uniquePrefix('a-b:c')];
    expect(new Set(prefixes).size).toBe(prefixes.length);
    for (const p of prefixes) {
      expect(p).toMatch(/^[A-Za-z0-9_.:-]{1,64}$/); // a valid QG_KEY_PREFIX
      for (const q of prefixes) if (p !== q) expect(q.startsWith(p)).toBe(false);
    }
  });

  it('cleanupPrefix deletes only the keys under its prefix', async () => {
    const mine = uniquePrefix('mine');
    const theirs = uniquePrefix('theirs');
    const writes = redis.pipeline();
    for (let i = 0; i < 250; i++) writes.set(`${mine}:{p${i % 7}}:k${i}`, '1');
    writes.set(`${theirs}:k`, '1');
    await writes.exec();

    expect(await cleanupPrefix(redis, mine)).toBe(250);
    expect(await redis.exists(`${mine}:{p0}:k0`)).toBe(0);
    expect(await redis.get(`${theirs}:k`)).toBe('1');
    await cleanupPrefix(redis, theirs);
  });

  it('cleanupPrefix refuses a prefix that is not from this run', async () => {
    await expect(cleanupPrefix(redis, 'qg')).rejects.toThrow(/not a prefix of this run/);
  });
});

describe('test harness: private redis-server', () => {
  let server: PrivateRedis;
  let client: Redis;
  beforeAll(async () => {
    server = await startPrivateRedis();
    // Retries forever (the default) so the client survives the server's stops.
    client = new Redis(server.url, { maxRetriesPerRequest: null, retryStrategy: () => 50 });
    client.on('error', () => {}); // refused reconnects while the server is down are expected
  });
  afterAll(async () => {
    client?.disconnect();
    await server?.dispose();
  });

  it('starts empty and loses everything on restart (no persistence)', async () => {
    expect(await client.dbsize()).toBe(0);
    await client.set('k', 'v');
    const pid = server.pid;
    await server.restart();
    expect(server.pid).not.toBe(pid);
    expect(await client.get('k')).toBeNull();
  });

  it('stop() and kill9() take it down; restart() brings it back on the same port', async () => {
    const probe = () => new Redis(server.url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    for (const down of [() => server.stop(), () => server.kill9()]) {
      await down();
      expect(server.pid).toBeUndefined();
      const p = probe();
      p.on('error', () => {});
      await expect(p.connect()).rejects.toThrow();
      p.disconnect();
      await server.restart();
      expect(await client.ping()).toBe('PONG');
    }
  });

  it('may be flushed, being nobody else’s', async () => {
    await client.set('x', '1');
    await client.flushall();
    expect(await client.dbsize()).toBe(0);
  });
});

describe('test harness: private Redis Cluster', () => {
  it('forms a 3-master cluster that takes writes in every slot range', async () => {
    const cluster = await startPrivateRedisCluster(3);
    const client = new Cluster([...cluster.startupNodes]);
    try {
      // 30 hash tags spread over the slots, so every master gets some keys.
      const prefix = uniquePrefix('cluster');
      const keys = Array.from({ length: 30 }, (_, i) => `${prefix}:{p${i}}:k`);
      for (const key of keys) await client.set(key, key);
      expect(await client.get(keys[7]!)).toBe(keys[7]);
      const perNode = await Promise.all(client.nodes('master').map((n) => n.dbsize()));
      expect(perNode).toHaveLength(3);
      expect(perNode.every((n) => n > 0)).toBe(true);
      expect(perNode.reduce((a, b) => a + b, 0)).toBe(keys.length);
      // cleanupPrefix scans every master.
      expect(await cleanupPrefix(client, prefix)).toBe(keys.length);
    } finally {
      client.disconnect();
      await cluster.stop();
    }
  });
});
