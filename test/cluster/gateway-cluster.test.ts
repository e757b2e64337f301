import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readOutboxStates } from '../../src/redis/outbox-stream.js';
import { createLogger } from '../../src/observability/logger.js';
import { abuseJob } from '../../src/notify/abuse-job.js';
import type { WorkerContext } from '../../src/jobs/job.js';
import type { WorkerHandle } from '../../src/worker/worker.js';
import { startGatewayFixture, TEST_ADMIN_TOKEN, type GatewayFixture, type TestSubject } from '../support/gateway.js';
import { compareLedger, startTestWorker, waitForDrain, workerEnv } from '../support/ledger-checks.js';
import { startPrivateRedisCluster, type PrivateRedisCluster } from '../support/redis-server.js';
import { databaseUrl } from '../support/services.js';
import { eventJson, eventually, SseReader } from '../support/sse-client.js';

/**
 * The whole deployment in cluster mode (QG_REDIS_CLUSTER) on a private 3-master Redis
 * Cluster: two gateways and a worker, traffic on every node, the admin API, revocation
 * broadcasts, the dashboard feed, then ledger = usage_counters = Redis.
 */

const CLUSTER_ENV = { QG_REDIS_CLUSTER: 'true' };

let cluster: PrivateRedisCluster;
let a: GatewayFixture;
let b: GatewayFixture;
let worker: WorkerHandle;
beforeAll(async () => {
  cluster = await startPrivateRedisCluster(3);
  // One seed node: the clients discover the other two.
  const seed = `redis://${cluster.servers[0]!.host}:${cluster.servers[0]!.port}`;
  a = await startGatewayFixture({ redisUrl: seed, env: CLUSTER_ENV });
  // A second gateway of the same deployment that trusts cached keys for a minute: only the
  // revocation broadcast can make it refuse a revoked key sooner.
  b = await startGatewayFixture({ redisUrl: seed, env: { ...CLUSTER_ENV, QG_KEY_PREFIX: a.keys.prefix, QG_AUTH_CACHE_TTL_MS: '60000' } });
  worker = await startTestWorker({ keys: a.keys, redisUrl: seed, databaseUrl: databaseUrl(), policy: a.policy, env: CLUSTER_ENV });
}, 60_000);
afterAll(async () => {
  await worker?.close();
  await b?.close();
  await a?.close();
  await cluster?.stop();
});

const consume = (gw: GatewayFixture, s: TestSubject, metric: string, amount = 1) =>
  gw.request('/v1/consume', { method: 'POST', key: s.key, json: { charges: [{ metric, amount }] } }).then((r) => r.status);
const chat = (gw: GatewayFixture, s: TestSubject) =>
  gw
    .request('/v1/chat/completions', { method: 'POST', key: s.key, json: { messages: [{ role: 'user', content: 'hi' }], max_tokens: 50 } })
    .then(async (r) => (await r.arrayBuffer(), r.status));

describe('gateway and worker on a Redis Cluster', () => {
  it('serves, administers, broadcasts and flushes with ledger = usage_counters = Redis', async () => {
    const subjects = await Promise.all(Array.from({ length: 32 }, () => a.createSubject({ plan: 'unlimited' })));
    const redis = a.redis as Cluster;
    expect(redis.isCluster).toBe(true);

    // 384 requests at once, proxied and decided, through both gateways.
    const statuses = await Promise.all(
      subjects.flatMap((s, i) => {
        const gw = i % 2 === 0 ? a : b;
        return Array.from({ length: 6 }, () => [chat(gw, s), consume(gw, s, 'exports')]).flat();
      }),
    );
    expect(statuses.filter((st) => st !== 200)).toEqual([]);
    await Promise.all([a.settled(), b.settled()]);

    // The subjects' keys sit on every master.
    const keysPerNode = await Promise.all(redis.nodes('master').map(async (node) => (await node.scan('0', 'MATCH', `${a.keys.prefix}:*`, 'COUNT', 100_000))[1].length));
    expect(keysPerNode).toHaveLength(3);
    for (const n of keysPerNode) expect(n).toBeGreaterThan(0);

    // The dashboard feed (a poll per partition on a Cluster) shows what happens next.
    const login = await a.request('/admin/ui/login', { method: 'POST', body: new URLSearchParams({ token: TEST_ADMIN_TOKEN }), redirect: 'manual' });
    const feed = new SseReader((await a.request('/admin/ui/feed', { headers: { cookie: login.headers.get('set-cookie')!.split(';')[0]! } })).body!);
    await feed.next(); // ready
    const last = subjects.at(-1)!;
    expect(await consume(a, last, 'gens')).toBe(200);
    for (let event = await feed.next(); ; event = await feed.next()) {
      if (!event) throw new Error(`the feed ended: ${feed.text}`);
      const e = eventJson(event);
      if (e?.subject === last.id && e.metric === 'gens') break;
    }
    await feed.cancel();

    // Admin: a reset and a grant, each one script on its subject's slot.
    const [reset, granted] = await Promise.all([
      a.admin(`/admin/v1/subjects/${subjects[0]!.id}/reset`, { method: 'POST', json: { metrics: ['exports'], reason: 'cluster test' } }),
      b.admin(`/admin/v1/subjects/${subjects[1]!.id}/grants`, { method: 'POST', json: { metric: 'exports', amount: 3, reason: 'cluster test' } }),
    ]);
    expect([reset.status, granted.status]).toEqual([200, 201]);
    expect(await a.used(subjects[0]!, 'exports')).toBe(0);

    // A revocation through one gateway reaches the other over Cluster pub/sub.
    const target = subjects[2]!;
    expect(await Promise.all([a.request('/v1/usage', { key: target.key }), b.request('/v1/usage', { key: target.key })]).then((r) => r.map((x) => x.status))).toEqual([200, 200]);
    const { rows } = await a.pool.query<{ id: string }>('SELECT id FROM api_keys WHERE subject_id = $1', [target.id]);
    expect((await a.admin(`/admin/v1/subjects/${target.id}/keys/${rows[0]!.id}`, { method: 'DELETE' })).status).toBe(204);
    // PUBLISH reaches the other nodes' subscribers over the cluster bus, a moment later.
    await eventually('the second gateway to refuse the revoked key', async () => (await b.request('/v1/usage', { key: target.key })).status === 401, 2_000);

    // The worker flushed every partition (BullMQ on the cluster) and the three views agree.
    await waitForDrain(redis, a.keys);
    expect((await readOutboxStates(redis, a.keys, a.keys.partitions)).every((s) => s.length === 0)).toBe(true);
    const { rows: compared, mismatches } = await compareLedger(
      a.pool,
      redis,
      a.keys,
      subjects.map((s) => s.id),
    );
    expect(mismatches).toEqual([]);
    expect(compared.length).toBeGreaterThanOrEqual(subjects.length * 3);
    expect((await worker.reconcile('manual')).drifts).toEqual([]);

    for (const gw of [a, b]) expect((await gw.request('/readyz')).status).toBe(200);
  }, 30_000);

  it('reports abuse from the denial tallies of every partition', async () => {
    const denied = await a.createSubject({ plan: 'test' }); // 5 exports
    const statuses = await Promise.all(Array.from({ length: 12 }, () => consume(a, denied, 'exports')));
    expect(statuses.filter((s) => s === 402)).toHaveLength(7);
    // A minute later, the minute of these denials is a full minute the job looks back at.
    const ctx = {
      env: workerEnv(a.keys, a.redisUrl, databaseUrl(), { ...CLUSTER_ENV, QG_ABUSE_DENIALS_PER_MINUTE: '5' }),
      keys: a.keys,
      redis: a.redis,
      pool: a.pool,
      clock: { now: () => Date.now() + 60_000 },
      logger: createLogger('silent'),
    } as WorkerContext;
    await abuseJob(ctx).run({});
    const { rows } = await a.pool.query('SELECT 1 FROM notifications WHERE subject_id = $1 AND kind = $2', [denied.id, 'abuse']);
    expect(rows).toHaveLength(1);
  });
});
