import type { Logger } from 'pino';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { decodeLedgerEvent, MalformedEntryError } from '../../src/ledger/ledger-event.js';
import { LedgerWriter } from '../../src/ledger/ledger-writer.js';
import { ConsumerHeartbeat } from '../../src/ledger/consumer-heartbeat.js';
import { FLUSH_GROUP, OutboxFlusher } from '../../src/ledger/outbox-flusher.js';
import { systemClock } from '../../src/lib/clock.js';
import { createEngineFixture, T0, type EngineFixture } from '../support/engine.js';
import { allowed } from '../support/ledger-checks.js';

/**
 * The flusher against one partition's stream: the one-field entry format (decoded
 * strictly, a malformed entry dropped without blocking its partition), and the
 * acknowledgement that trims the stream (lua/ack-outbox.lua) without ever removing an
 * entry still pending on another consumer.
 */

let f: EngineFixture;
beforeAll(async () => {
  f = await createEngineFixture({ partitions: 4 });
});
afterAll(() => f.close());

/** Long enough that nothing is claimed by accident on a slow machine, short enough to wait for. */
const CLAIM_IDLE_MS = 1_000;

function flusher(dropped: unknown[] = [], batchSize = 100): OutboxFlusher {
  const logger = { error: (fields: unknown) => dropped.push(fields), warn: () => {} } as unknown as Logger;
  const heartbeat = new ConsumerHeartbeat(f.redis, f.keys, `test-${process.pid}`);
  return new OutboxFlusher({
    redis: f.redis,
    scripts: f.engine.scripts,
    keys: f.keys,
    writer: new LedgerWriter(f.pool, 86_400_000),
    consumer: heartbeat.consumer,
    liveness: heartbeat,
    options: { batchSize, claimIdleMs: CLAIM_IDLE_MS },
    clock: systemClock,
    logger,
    observers: [],
  });
}

/** A subject of its own, with `n` gens consumed; returns it and its partition. */
async function subjectWith(n: number) {
  const subject = f.subject();
  for (let i = 0; i < n; i++) allowed(await f.engine.consume({ subject, charges: [{ metric: 'gens', amount: 1 }] }));
  return { subject, partition: f.keys.partitionOf(subject.id) };
}

const ledgerCount = async (subjectId: string) =>
  Number((await f.pool.query<{ n: string }>('SELECT count(*) AS n FROM usage_events WHERE subject_id = $1', [subjectId])).rows[0]!.n);

describe('decodeLedgerEvent', () => {
  const valid = { id: 'r1:1', k: 'consume', s: 'sub', m: 'gens', p: 1_700_000_000_000, d: 1, v: 1, t: 1_700_000_000_123, x: {}, c: { route: 'chat' } };
  const entry = (e: unknown) => ['e', JSON.stringify(e)];

  it('decodes the one-field entry the scripts write', () => {
    expect(decodeLedgerEvent('1-0', entry(valid))).toEqual({
      id: 'r1:1',
      kind: 'consume',
      subjectId: 'sub',
      metric: 'gens',
      periodStart: 1_700_000_000_000,
      delta: 1,
      valueAfter: 1,
      occurredAt: 1_700_000_000_123,
      extra: {},
      context: { route: 'chat' },
      streamId: '1-0',
    });
    expect(decodeLedgerEvent('1-1', entry({ ...valid, p: null, x: [] })).periodStart).toBeNull();
  });

  it.each([
    ['no field', []],
    ['another field', ['x', JSON.stringify(valid)]],
    ['more than one field', [...entry(valid), 'k', 'consume']],
    ['the field-per-member layout', ['id', 'r1:1', 'k', 'consume', 's', 'sub', 'm', 'gens', 'd', '1', 'v', '1', 't', '1', 'x', '{}', 'c', '{}']],
    ['not JSON', ['e', '{"id":']],
    ['not an object', entry(['r1:1', 'consume'])],
    ['an empty id', entry({ ...valid, id: '' })],
    ['no subject', entry({ ...valid, s: undefined })],
    ['an unknown kind', entry({ ...valid, k: 'steal' })],
    ['a fractional delta', entry({ ...valid, d: 1.5 })],
    ['a delta as text', entry({ ...valid, d: '1' })],
    ['no period', entry({ ...valid, p: undefined })],
    ['extra not an object', entry({ ...valid, x: 'draws' })],
    ['context null', entry({ ...valid, c: null })],
  ])('refuses %s', (_, fields) => {
    expect(() => decodeLedgerEvent('1-0', fields as string[])).toThrow(MalformedEntryError);
  });
});

describe('the outbox flusher', () => {
  it('drops malformed entries, reported, and flushes the rest of their partition', async () => {
    const { subject, partition } = await subjectWith(3);
    const key = f.keys.outbox(partition);
    await f.redis.xadd(key, '*', 'e', 'garbage');
    await f.redis.xadd(key, '*', 'id', 'old:1', 'k', 'consume');
    await f.redis.xadd(key, '*', 'e', JSON.stringify({ id: 'x:1', k: 'steal', s: subject.id, m: 'gens', p: null, d: 1, v: 1, t: 1, x: {}, c: {} }));
    for (let i = 0; i < 2; i++) allowed(await f.engine.consume({ subject, charges: [{ metric: 'gens', amount: 1 }] }));

    const dropped: unknown[] = [];
    await flusher(dropped).drain(partition, 5_000);
    expect(dropped).toHaveLength(3);
    expect(await ledgerCount(subject.id)).toBe(5);
    expect(await f.redis.xlen(key)).toBe(0);
    expect(((await f.redis.xpending(key, FLUSH_GROUP)) as [number])[0]).toBe(0);
  });

  it('stores every event as the script wrote it, times to the millisecond', async () => {
    const subject = f.subject();
    await f.pool.query('INSERT INTO subjects (id, plan) VALUES ($1, $2)', [subject.id, subject.plan]);
    f.clock.set(T0 + 987); // a time with milliseconds
    onTestFinished(() => f.clock.set(T0));
    await f.engine.grant(subject, { metric: 'exports', amount: 3, expiresAt: null }, { actor: 'test', reason: 'round trip' });
    for (let i = 0; i < 6; i++) allowed(await f.engine.consume({ subject, charges: [{ metric: 'exports', amount: 1 }], context: { route: 'export', n: i } }));
    allowed(await f.engine.consume({ subject, charges: [{ metric: 'projects', amount: 2 }] }));
    await f.engine.release(subject, 'projects', 1);
    const written = await f.events(subject.id);
    expect(new Set(written.map((e) => e.kind))).toEqual(new Set(['grant', 'consume', 'release']));

    await flusher().drain(f.keys.partitionOf(subject.id), 5_000);
    const { rows } = await f.pool.query<{
      id: string;
      kind: string;
      metric: string;
      period: string | null;
      delta: string;
      value: string;
      extra: unknown;
      context: unknown;
      at: string;
    }>(
      `SELECT event_id AS id, kind, metric, (extract(epoch FROM period_start) * 1000)::bigint AS period, delta, value_after AS value,
              extra, context, (extract(epoch FROM occurred_at) * 1000)::bigint AS at
         FROM usage_events WHERE subject_id = $1 ORDER BY stream_id`,
      [subject.id],
    );
    expect(rows.map((r) => ({ ...r, period: r.period === null ? null : Number(r.period), delta: Number(r.delta), value: Number(r.value), at: Number(r.at) }))).toEqual(
      written.map((e) => ({ id: e.id, kind: e.kind, metric: e.metric, period: e.periodStart, delta: e.delta, value: e.value, extra: e.extra, context: e.context, at: T0 + 987 })),
    );
  });

  it('trims acknowledged entries but keeps those pending on another live consumer until they are claimed', async () => {
    const { subject, partition } = await subjectWith(6);
    const key = f.keys.outbox(partition);
    const flush = flusher();
    await flush.drain(partition, 5_000); // creates the group; other subjects' entries of the partition go too
    expect(await f.redis.xlen(key)).toBe(0);
    for (let i = 0; i < 6; i++) allowed(await f.engine.consume({ subject, charges: [{ metric: 'gens', amount: 1 }] }));

    // Another consumer, whose worker still beats, reads the two oldest entries and does not acknowledge them (it is stuck).
    await f.redis.set(f.keys.workerHeartbeat('stuck-worker'), '1', 'PX', 60_000);
    const taken = (await f.redis.xreadgroup('GROUP', FLUSH_GROUP, 'stuck-worker', 'COUNT', 2, 'STREAMS', key, '>')) as [string, [string, string[]][]][];
    const takenIds = taken[0]![1].map(([id]) => id);
    expect(takenIds).toHaveLength(2);

    await flush.drain(partition, 5_000);
    expect(await ledgerCount(subject.id)).toBe(10);
    // Only the stuck consumer's entries are left, to be claimed: the trim stopped at the
    // oldest of them, and the committed entries after them were deleted.
    expect((await f.redis.xrange(key, '-', '+')).map(([id]) => id)).toEqual(takenIds);

    await new Promise((r) => setTimeout(r, CLAIM_IDLE_MS + 50));
    await flush.drain(partition, 5_000);
    expect(await ledgerCount(subject.id)).toBe(12);
    expect(await f.redis.xlen(key)).toBe(0);
    expect(((await f.redis.xpending(key, FLUSH_GROUP)) as [number])[0]).toBe(0);
  });

  it('takes over the entries of a consumer whose worker stopped (no heartbeat) at once, and removes it from the group', async () => {
    const { subject, partition } = await subjectWith(4);
    const key = f.keys.outbox(partition);
    const flush = flusher();
    await flush.drain(partition, 5_000);
    for (let i = 0; i < 4; i++) allowed(await f.engine.consume({ subject, charges: [{ metric: 'gens', amount: 1 }] }));
    await f.redis.xreadgroup('GROUP', FLUSH_GROUP, 'killed-worker', 'COUNT', 3, 'STREAMS', key, '>');
    // Never claimed by idle time here: CLAIM_IDLE_MS has not passed.
    await flush.drain(partition, 5_000);
    expect(await ledgerCount(subject.id)).toBe(8);
    expect(await f.redis.xlen(key)).toBe(0);
    const consumers = (await f.redis.xinfo('CONSUMERS', key, FLUSH_GROUP)) as string[][];
    expect(consumers.map((c) => c[1])).toEqual([`test-${process.pid}`]);
  });

  it('acknowledges and removes a batch of more ids than the script passes to one command', async () => {
    const { subject, partition } = await subjectWith(1);
    const key = f.keys.outbox(partition);
    const pipeline = f.redis.pipeline();
    for (let i = 0; i < 2_500; i++) {
      const e = { id: `bulk-${subject.id}:${i}`, k: 'denied', s: subject.id, m: 'gens', p: null, d: 0, v: 0, t: Date.now(), x: {}, c: {} };
      pipeline.xadd(key, '*', 'e', JSON.stringify(e));
    }
    await pipeline.exec();
    await flusher([], 5_000).drain(partition, 5_000);
    expect(await ledgerCount(subject.id)).toBe(2_501);
    expect(await f.redis.xlen(key)).toBe(0);
    expect(((await f.redis.xpending(key, FLUSH_GROUP)) as [number])[0]).toBe(0);
  });
});
