import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeySchema } from '../../src/redis/keys.js';
import { ackOutboxCall } from '../../src/redis/scripts/ack-outbox.js';
import { adjustCall } from '../../src/redis/scripts/adjust.js';
import { consumeCall, type ConsumeRequest } from '../../src/redis/scripts/consume.js';
import { dropConsumerCall } from '../../src/redis/scripts/drop-consumer.js';
import { grantCall } from '../../src/redis/scripts/grant.js';
import { readGrants } from '../../src/redis/scripts/grants-hash.js';
import { dueHolds, readHold } from '../../src/redis/scripts/hold-record.js';
import { hydrateCall } from '../../src/redis/scripts/hydrate.js';
import { refundCall } from '../../src/redis/scripts/refund.js';
import { Scripts } from '../../src/redis/scripts/registry.js';
import { releaseCall } from '../../src/redis/scripts/release.js';
import { repairCall } from '../../src/redis/scripts/repair.js';
import { ReplyCode } from '../../src/redis/scripts/reply.js';
import { resetCall } from '../../src/redis/scripts/reset.js';
import { returnHoldCall } from '../../src/redis/scripts/return-hold.js';
import { revokeGrantCall } from '../../src/redis/scripts/revoke-grant.js';
import { settleCall } from '../../src/redis/scripts/settle.js';
import { snapshotCall } from '../../src/redis/scripts/snapshot.js';
import { voidCall } from '../../src/redis/scripts/void.js';
import { cleanupPrefix, redisUrl, uniquePrefix } from '../support/services.js';
import { T0 } from '../support/test-time.js';

/**
 * Every script through its module alone (no engine): the call the module encodes is the
 * one the script reads, and the module decodes what the script answers.
 */
const prefix = uniquePrefix('modules');
const keys = new KeySchema(prefix, 4);
let redis: Redis;
let scripts: Scripts;
beforeAll(async () => {
  redis = new Redis(redisUrl());
  scripts = new Scripts(redis);
  await scripts.preload();
});
afterAll(async () => {
  await cleanupPrefix(redis, prefix);
  await redis.quit();
});

const PERIOD = T0 - (T0 % 86_400_000);
const subject = 'modules-1';
const gens = { metric: 'gens', kind: 'counter' as const, periodStart: PERIOD, limit: 10, ttlMs: 60_000 };
const request = (over: Partial<ConsumeRequest>): ConsumeRequest => ({
  now: T0,
  subjectId: subject,
  requestId: 'r-1',
  mode: 'apply',
  rate: null,
  denialTallyTtlMs: 60_000,
  lines: [{ ...gens, amount: 2, held: false }],
  concurrency: 0,
  holdTtlMs: 0,
  idempotency: null,
  refundTtlMs: 0,
  voidTtlMs: 0,
  context: '{"route":"modules"}',
  ...over,
});

describe('each script through its module', () => {
  it('consume asks for hydration, hydrate writes the keys, consume then charges and holds', async () => {
    expect(await scripts.run(consumeCall(keys, request({}), 0))).toEqual({ code: ReplyCode.NeedsHydration, usage: [0], grants: [0] });
    const hydrated = await scripts.run(
      hydrateCall(keys, {
        subjectId: subject,
        usage: [{ ...gens, value: 1, ttlMs: 60_000 }],
        grants: [{ metric: 'gens', grants: [{ id: 'g1', remaining: 5, expiresAt: null }] }],
      }),
    );
    expect(hydrated).toEqual({ code: ReplyCode.Ok, values: [2] });
    expect(await readGrants(redis, keys, subject, ['gens', 'tokens'])).toEqual([[{ id: 'g1', remaining: 5, expiresAt: null }], null]);

    const allowed = await scripts.run(consumeCall(keys, request({}), 0));
    expect(allowed).toMatchObject({ code: ReplyCode.Ok, flag: 0, leases: 0, metrics: [{ used: 3, grants: 5 }] });

    const held = await scripts.run(consumeCall(keys, request({ requestId: 'r-2', holdTtlMs: 1_000, lines: [{ ...gens, amount: 4, held: true }] }), 0));
    expect(held).toMatchObject({ code: ReplyCode.Ok, metrics: [{ used: 7, grants: 5 }] });
    const hold = await readHold(redis, keys, subject, 'r-2');
    expect(hold).toEqual({ idempotencyKey: null, lines: [{ metric: 'gens', kind: 'counter', periodStart: PERIOD, amount: 4 }] });
    expect(await dueHolds(redis, keys, keys.partitionOf(subject), T0 + 1_000, 10)).toEqual([{ subjectId: subject, holdId: 'r-2' }]);

    const address = { id: 'r-2', subjectId: subject, ...hold! };
    const settled = await scripts.run(settleCall(keys, { now: T0, eventId: 'e-1', hold: address, lines: [{ actual: 1, limit: 10 }], idempotencyTtlMs: 1_000, response: '' }));
    expect(settled).toEqual({ code: ReplyCode.Ok, lines: [{ used: 4, grants: 5 }] });
    expect(await scripts.run(returnHoldCall(keys, { now: T0, eventId: 'e-2', hold: address, kind: 'release' }))).toEqual({ code: ReplyCode.NotFound });

    const denied = await scripts.run(consumeCall(keys, request({ requestId: 'r-3', lines: [{ ...gens, amount: 100, held: false }] }), 0));
    expect(denied).toMatchObject({ code: ReplyCode.DeniedQuota, flag: 1, metrics: [{ used: 4, grants: 5 }] });
  });

  it('refund gives back a charge taken outright, once', async () => {
    await scripts.run(consumeCall(keys, request({ requestId: 'r-4', refundTtlMs: 1_000 }), 0));
    const refund = refundCall(keys, { now: T0, subjectId: subject, requestId: 'r-4', lines: [{ ...gens, amount: 2 }], ttlMs: 1_000, context: '{}' });
    expect(await scripts.run(refund)).toEqual({ code: ReplyCode.Ok, values: [] });
    expect(await scripts.run(refund)).toEqual({ code: ReplyCode.NotFound, values: [] });
  });

  it('void gives back an applied consume once, and makes one not yet run refuse', async () => {
    const applied = request({ requestId: 'r-5', voidTtlMs: 1_000 });
    expect(await scripts.run(consumeCall(keys, applied, 0))).toMatchObject({ code: ReplyCode.Ok });
    expect(await scripts.run(voidCall(keys, applied, T0, 1_000))).toEqual({ code: ReplyCode.Ok });
    expect(await scripts.run(voidCall(keys, applied, T0, 1_000))).toEqual({ code: ReplyCode.NotFound });
    const early = request({ requestId: 'r-6', voidTtlMs: 1_000 });
    expect(await scripts.run(voidCall(keys, early, T0, 1_000))).toEqual({ code: ReplyCode.NotApplied });
    expect(await scripts.run(consumeCall(keys, early, 0))).toEqual({ code: ReplyCode.Expired });
  });

  it('the operator scripts: grant, revoke-grant, adjust, reset, release', async () => {
    const grant = (id: string) => grantCall(keys, { now: T0, subjectId: subject, eventId: `e-${id}`, metric: 'gens', grant: { id, remaining: 3, expiresAt: null }, context: '{}' });
    expect(await scripts.run(grant('g2'))).toEqual({ code: ReplyCode.Ok, values: [8] });
    expect(await scripts.run(grant('g2'))).toEqual({ code: ReplyCode.Exists, values: [8] });
    const revoke = revokeGrantCall(keys, { now: T0, subjectId: subject, eventId: 'e-r', metric: 'gens', grantId: 'g2', context: '{}' });
    expect(await scripts.run(revoke)).toEqual({ code: ReplyCode.Ok, values: [3, 5] });
    expect(await scripts.run(revoke)).toEqual({ code: ReplyCode.NotFound, values: [] });

    const adjust = adjustCall(keys, { now: T0, subjectId: subject, eventId: 'e-a', ...gens, delta: -10, context: '{}' });
    expect(await scripts.run(adjust)).toEqual({ code: ReplyCode.Ok, values: [0, -4] });
    await scripts.run(adjustCall(keys, { now: T0, subjectId: subject, eventId: 'e-b', ...gens, delta: 6, context: '{}' }));
    const reset = resetCall(keys, { now: T0, subjectId: subject, eventId: 'e-c', counters: [{ metric: 'gens', periodStart: PERIOD, ttlMs: 60_000 }], context: '{}' });
    expect(await scripts.run(reset)).toEqual({ code: ReplyCode.Ok, values: [6] });

    const release = releaseCall(keys, { now: T0, subjectId: subject, eventId: 'e-d', metric: 'projects', amount: 1, context: '{}', idempotency: null });
    expect(await scripts.run(release)).toEqual({ code: ReplyCode.NeedsHydration, usage: [0], grants: [] });
    await scripts.run(hydrateCall(keys, { subjectId: subject, usage: [{ metric: 'projects', kind: 'gauge', periodStart: null, value: 3, ttlMs: 0 }], grants: [] }));
    expect(await scripts.run(release)).toEqual({ code: ReplyCode.Ok, values: [2, 1] });
  });

  it('the ledger’s scripts: snapshot, repair, ack-outbox, drop-consumer', async () => {
    const outbox = keys.outbox(keys.partitionOf(subject));
    const usageKey = keys.counter(subject, 'gens', PERIOD);
    const snap = await scripts.run(snapshotCall(outbox, [usageKey, keys.counter(subject, 'tokens', PERIOD)]));
    expect(snap.watermark).toMatch(/^\d+-\d+$/);
    expect(snap.values).toEqual([0, null]);
    expect(await scripts.run(repairCall(usageKey, 5))).toEqual({ code: ReplyCode.Ok, values: [5] });
    expect(await scripts.run(repairCall(keys.counter(subject, 'tokens', PERIOD), 5))).toEqual({ code: ReplyCode.NotFound, values: [] });

    await redis.xgroup('CREATE', outbox, 'g', '0');
    const read = (await redis.xreadgroup('GROUP', 'g', 'c', 'STREAMS', outbox, '>')) as [string, [string, string[]][]][];
    const ids = read[0]![1].map(([id]) => id);
    expect(ids.length).toBeGreaterThan(5);
    expect(await scripts.run(ackOutboxCall(outbox, 'g', ids))).toBe(ids.length);
    expect(await redis.xlen(outbox)).toBe(0);

    // drop-consumer removes a consumer only while nothing is pending on it.
    await redis.xadd(outbox, '*', 'e', '{}');
    await redis.xreadgroup('GROUP', 'g', 'c', 'STREAMS', outbox, '>');
    expect(await scripts.run(dropConsumerCall(outbox, 'g', 'c'))).toBe(false);
    const pending = (await redis.xpending(outbox, 'g', '-', '+', 1)) as [string][];
    await scripts.run(ackOutboxCall(outbox, 'g', [pending[0]![0]]));
    expect(await scripts.run(dropConsumerCall(outbox, 'g', 'c'))).toBe(true);
    expect(await scripts.run(dropConsumerCall(outbox, 'g', 'c'))).toBe(false);
  });
});
