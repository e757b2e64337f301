import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SubjectRef } from '../../src/quota/types.js';
import type { WorkerHandle } from '../../src/worker/worker.js';
import { createEngineFixture, type EngineFixture } from '../support/engine.js';
import {
  compareLedger,
  inChunks,
  ledgerEventCount,
  ledgerEventIds,
  mixedWorkload,
  mixedWorkloadEvents,
  outboxEventIds,
  outboxTotal,
  sortedIds,
  startTestWorker,
  waitFor,
  waitForDrain,
} from '../support/ledger-checks.js';
import { databaseUrl, redisUrl } from '../support/services.js';
import { startTcpProxy, targetOf, type BlockMode, type TcpProxy } from '../support/tcp-proxy.js';

/**
 * SPEC invariants 9 and 10, "Worker": Postgres going away stops only the ledger's
 * catching up. Decisions keep being made in Redis, their events wait in the outbox, and
 * once Postgres is back the worker moves every one of them exactly once.
 *
 * Only the worker reaches Postgres through a proxy the test cuts; the engine fixture (the
 * gateway) keeps the real database for hydration, so new subjects are still decided.
 */

const GENS = 40;
const SUBJECTS = 15;

let proxy: TcpProxy;
let f: EngineFixture;
let worker: WorkerHandle | undefined;

beforeAll(async () => {
  proxy = await startTcpProxy(targetOf(databaseUrl()));
  f = await createEngineFixture({ connections: 4, partitions: 8 });
  worker = await startTestWorker({ keys: f.keys, redisUrl: redisUrl(), databaseUrl: proxy.rewrite(databaseUrl()), clock: f.clock });
});
afterAll(async () => {
  proxy?.unblock();
  await worker?.close();
  await f?.close();
  await proxy?.close();
});

async function flushFailures(): Promise<number> {
  const { values } = await worker!.metrics.jobFailures.get();
  return values.filter((v) => v.labels.job === 'flush').reduce((n, v) => n + v.value, 0);
}

const subjectsOf = (label: string) => Array.from({ length: SUBJECTS }, (_, i) => f.subject(`${f.keys.prefix}.${label}${i}`));
const ids = (subjects: readonly SubjectRef[]) => subjects.map((s) => s.id);
const sum = (ns: number[]) => ns.reduce((a, b) => a + b, 0);

describe.each<BlockMode>(['refuse', 'hold'])('Postgres unreachable for the worker (connections %s)', (mode) => {
  it('decisions go on, their events wait in the outbox, and all of them reach the ledger once Postgres is back', async () => {
    const before = subjectsOf(`${mode}-before`);
    const during = subjectsOf(`${mode}-during`);
    const perSubject = mixedWorkloadEvents(GENS);

    // ---- Postgres goes away while the worker is flushing the first subjects' events.
    const producing = inChunks(mixedWorkload(f, before, GENS), 500);
    let producerFailed: unknown;
    producing.catch((err: unknown) => (producerFailed = err ?? new Error('the workload failed')));
    await waitFor('the worker to flush some events through the proxy', async () => {
      if (producerFailed) throw producerFailed;
      return (await ledgerEventCount(f.pool, ids(before))) > 0;
    });
    const failuresAtBlock = await flushFailures();
    const attemptsAtBlock = proxy.blockedAttempts;
    proxy.block(mode);
    expect(sum(await producing)).toBe(SUBJECTS * perSubject);
    // Once a flush has failed, anything committed before the cut has been acknowledged too.
    await waitFor('a flush to fail against the blocked proxy', async () => (await flushFailures()) > failuresAtBlock && proxy.blockedAttempts > attemptsAtBlock);

    // ---- Decisions during the outage: all made (new subjects hydrate from the real database).
    const outboxBefore = await outboxTotal(f.redis, f.keys);
    const ledgerBefore = await ledgerEventCount(f.pool, ids(before));
    expect(sum(await inChunks(mixedWorkload(f, during, GENS), 500))).toBe(SUBJECTS * perSubject);
    const outboxDuring = await outboxTotal(f.redis, f.keys);
    expect(outboxDuring - outboxBefore).toBe(SUBJECTS * perSubject);
    const waiting = new Map([...(await outboxEventIds(f.redis, f.keys)).entries()].filter(([s]) => s.startsWith(`${f.keys.prefix}.${mode}-during`)));
    expect(sum([...waiting.values()].map((l) => l.length))).toBe(SUBJECTS * perSubject);

    // The worker keeps trying and failing; nothing moves while it cannot reach Postgres.
    const failuresDuring = await flushFailures();
    const attemptsDuring = proxy.blockedAttempts;
    await waitFor('the worker to fail two more flushes', async () => (await flushFailures()) >= failuresDuring + 2 && proxy.blockedAttempts >= attemptsDuring + 2, 30_000);
    expect(await outboxTotal(f.redis, f.keys)).toBe(outboxDuring);
    expect(await ledgerEventCount(f.pool, ids(during))).toBe(0);
    expect(await ledgerEventCount(f.pool, ids(before))).toBe(ledgerBefore);

    // ---- Postgres is back: everything drains, each event once, and the sums agree.
    proxy.unblock();
    await waitForDrain(f.redis, f.keys, 30_000);
    expect(await ledgerEventCount(f.pool, ids(before))).toBe(SUBJECTS * perSubject);
    expect(await ledgerEventCount(f.pool, ids(during))).toBe(SUBJECTS * perSubject);
    expect(sortedIds(await ledgerEventIds(f.pool, ids(during)))).toEqual(sortedIds(waiting));
    const { rows: distinct } = await f.pool.query<{ n: string }>('SELECT count(DISTINCT event_id) AS n FROM usage_events WHERE subject_id = ANY($1)', [ids(before)]);
    expect(Number(distinct[0]!.n)).toBe(SUBJECTS * perSubject);

    const { rows, mismatches } = await compareLedger(f.pool, f.redis, f.keys, [...ids(before), ...ids(during)]);
    expect(mismatches).toEqual([]);
    expect(rows).toHaveLength(2 * SUBJECTS * 4);
    // A lost connection is no data error: batches were retried whole, nothing was set aside.
    const { rows: letters } = await f.pool.query('SELECT event_id FROM ledger_dead_letters WHERE subject_id = ANY($1)', [[...ids(before), ...ids(during)]]);
    expect(letters).toEqual([]);
  });
});
