import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgHydrator } from '../../src/ledger/pg-hydrator.js';
import { createLogger } from '../../src/observability/logger.js';
import { QuotaEngine } from '../../src/quota/engine.js';
import { createRedisClient, type RedisClient } from '../../src/redis/client.js';
import { consumeCall, type ConsumeRequest } from '../../src/redis/scripts/consume.js';
import { Scripts } from '../../src/redis/scripts/registry.js';
import { ReplyCode } from '../../src/redis/scripts/reply.js';
import { voidCall } from '../../src/redis/scripts/void.js';
import { createEngineFixture, ledgerSums, T0, type EngineFixture } from '../support/engine.js';
import { startPrivateRedis, type PrivateRedis } from '../support/redis-server.js';
import { PERIOD_START } from '../support/test-time.js';

/**
 * Decisions whose reply does not reach the engine in time: on a private Redis that a test
 * stalls (DEBUG SLEEP), the engine's client (the gateway's, with a 100 ms command deadline)
 * times out; the engine voids the decision by its request id, so the caller's "not charged"
 * holds whether or not the script had run. And the deadline never beats a reply that has
 * already arrived (the process was busy, as after a GC pause).
 */

const TIMEOUT_MS = 100;

let redis: PrivateRedis;
let f: EngineFixture;
let client: RedisClient;
let engine: QuotaEngine;
let scripts: Scripts;

beforeAll(async () => {
  redis = await startPrivateRedis({ args: ['--enable-debug-command', 'yes'] });
  f = await createEngineFixture({ url: redis.url });
  client = createRedisClient({ REDIS_URL: redis.url, QG_REDIS_CLUSTER: false }, { name: 'voids-test', commandTimeoutMs: TIMEOUT_MS, logger: createLogger('silent') });
  await client.connect();
  engine = new QuotaEngine({ redis: client, keys: f.keys, policy: f.engine.policy, hydrator: new PgHydrator(f.pool), clock: f.clock });
  scripts = new Scripts(f.redis);
});
afterAll(async () => {
  client?.disconnect();
  await f?.close();
  await redis?.dispose();
});

/** Stalls the Redis server for `seconds` (sent now, on the fixture's own connection). */
const stall = (seconds: number) => f.redis.call('DEBUG', 'SLEEP', String(seconds));

describe('a decision whose reply came too late', () => {
  it('is given back: usage, grants, lease, hold and idempotency record as before, a refund event per line', async () => {
    const subject = f.subject();
    await f.engine.grant(subject, { id: 'g-1', metric: 'gens', amount: 5, expiresAt: null }, {});
    await f.engine.adjust(subject, 'gens', 99, {});
    // Every key present, so the stalled call is the one that charges (not a hydration request).
    await f.engine.consume({ subject, charges: [{ metric: 'exports', amount: 0 }] });
    const before = (await f.engine.usage(subject, ['gens']))[0]!;

    const stalled = stall(0.4);
    const consume = engine.consume({
      subject,
      requestId: 'late-1',
      charges: [
        { metric: 'gens', amount: 3, held: true },
        { metric: 'exports', amount: 1 },
      ],
      concurrency: true,
      idempotency: { key: 'idem-1', fingerprint: 'fp-1' },
    });
    await expect(consume).rejects.toThrow(/timed out/);
    await stalled;
    await engine.voids.idle();

    const events = await f.events(subject.id);
    expect(events.filter((e) => e.id.startsWith('late-1:')).map((e) => [e.id, e.kind, e.metric, e.delta])).toEqual([
      ['late-1:1', 'consume', 'gens', 3],
      ['late-1:2', 'consume', 'exports', 1],
      ['late-1:v:1', 'refund', 'gens', -3],
      ['late-1:v:2', 'refund', 'exports', -1],
    ]);
    expect(ledgerSums(events.filter((e) => e.id.startsWith('late-1:')))).toEqual({ gens: 0, exports: 0 });
    const after = (await f.engine.usage(subject, ['gens']))[0]!;
    expect({ used: after.used, grants: after.grantBalance }).toEqual({ used: before.used, grants: before.grantBalance });
    expect(await f.redis.exists(f.keys.hold(subject.id, 'late-1'), f.keys.idempotency(subject.id, 'idem-1'))).toBe(0);
    expect(await f.redis.zcard(f.keys.concurrency(subject.id))).toBe(0);

    // The client's retry with the same key is decided afresh, not replayed as charged.
    const retry = await engine.consume({ subject, charges: [{ metric: 'gens', amount: 3, held: true }], concurrency: true, idempotency: { key: 'idem-1', fingerprint: 'fp-1' } });
    expect(retry.outcome).toBe('allowed');
  });

  it('that had not run yet never will: the void leaves a tombstone the late consume refuses', async () => {
    const subject = f.subject();
    await f.engine.adjust(subject, 'gens', 1, {});
    const request: ConsumeRequest = {
      now: T0,
      subjectId: subject.id,
      requestId: 'late-2',
      mode: 'apply',
      rate: null,
      denialTallyTtlMs: 60_000,
      lines: [{ metric: 'gens', kind: 'counter', periodStart: PERIOD_START, limit: 100, amount: 2, ttlMs: 60_000, held: false }],
      concurrency: 0,
      holdTtlMs: 0,
      idempotency: null,
      refundTtlMs: 0,
      voidTtlMs: 60_000,
      context: '{}',
    };
    expect(await scripts.run(voidCall(f.keys, request, T0, 60_000))).toEqual({ code: ReplyCode.NotApplied });
    expect(await scripts.run(consumeCall(f.keys, request, 0))).toEqual({ code: ReplyCode.Expired });
    expect(await scripts.run(voidCall(f.keys, request, T0, 60_000))).toEqual({ code: ReplyCode.NotFound });
    expect((await f.engine.usage(subject, ['gens']))[0]!.used).toBe(1);
    expect((await f.events(subject.id)).filter((e) => e.id.startsWith('late-2:'))).toEqual([]);
  });

  it('a refund after a void (or a void after a refund) gives nothing back twice', async () => {
    const subject = f.subject();
    const d = await f.engine.consume({ subject, requestId: 'late-3', charges: [{ metric: 'gens', amount: 4 }], refundTtlMs: 60_000 });
    if (d.outcome !== 'allowed') throw new Error(d.outcome);
    expect(await f.engine.refund(d.refund!)).toBe('refunded');
    const request: ConsumeRequest = {
      now: T0,
      subjectId: subject.id,
      requestId: 'late-3',
      mode: 'apply',
      rate: null,
      denialTallyTtlMs: 60_000,
      lines: [{ metric: 'gens', kind: 'counter', periodStart: PERIOD_START, limit: 100, amount: 4, ttlMs: 60_000, held: false }],
      concurrency: 0,
      holdTtlMs: 0,
      idempotency: null,
      refundTtlMs: 60_000,
      voidTtlMs: 60_000,
      context: '{}',
    };
    expect(await scripts.run(voidCall(f.keys, request, T0, 60_000))).toEqual({ code: ReplyCode.NotFound });
    expect(ledgerSums(await f.events(subject.id))).toEqual({ gens: 0 });
  });
});

describe('the command deadline', () => {
  it('prefers a reply that arrived while the process was busy past the deadline', async () => {
    const subject = f.subject();
    const decision = engine.consume({ subject, charges: [{ metric: 'gens', amount: 1 }] });
    // Let the command reach the socket, then block the event loop past the deadline (a GC pause).
    await new Promise((r) => setImmediate(r));
    const until = performance.now() + 5 * TIMEOUT_MS;
    while (performance.now() < until) {
      // busy: the reply waits in the socket, the deadline timer expires
    }
    expect((await decision).outcome).toBe('allowed');
  });

  it('still fails a command Redis does not answer in time', async () => {
    const stalled = stall(0.3);
    await expect(client.get('anything')).rejects.toThrow(/timed out/);
    await stalled;
  });
});
