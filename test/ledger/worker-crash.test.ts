import type { PoolClient } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkerHandle } from '../../src/worker/worker.js';
import { createEngineFixture, type EngineFixture } from '../support/engine.js';
import {
  allowed,
  compareLedger,
  inChunks,
  mixedWorkload,
  mixedWorkloadEvents,
  ledgerEventCount,
  ledgerEventIds,
  outboxEventIds,
  sortedIds,
  startTestWorker,
  waitFor,
  waitForDrain,
  workerEnvVars,
} from '../support/ledger-checks.js';
import { databaseUrl, redisUrl } from '../support/services.js';
import { spawnWorkerProcess, type WorkerProcess } from '../support/worker-process.js';
import { PERIOD_START } from '../support/test-time.js';

/**
 * SPEC "Worker": a worker killed with SIGKILL in the middle of a flush loses nothing and
 * duplicates nothing. Its read-but-unacknowledged outbox entries stay pending on its
 * consumer; once its heartbeat has lapsed (3 s) another worker takes them over and removes
 * the dead consumer from the groups — QG_FLUSH_CLAIM_IDLE_MS is 10 minutes here, so only
 * that can pass — and the ledger ignores whatever the dead one had already committed.
 *
 * To be sure the kill lands inside a flush transaction (not between two batches by luck),
 * the test holds a row lock the worker's counter update needs: it inserts, without
 * committing, the usage_counters row of one "late" subject whose single event comes after
 * a quarter of the others. The worker flushes its partition up to that event's batch and
 * blocks inside that batch's transaction, while its other jobs are still flushing other
 * partitions; that is when it is killed.
 */

const SUBJECTS = 100;
const GENS_PER_SUBJECT = 50;
const PERIOD = PERIOD_START;
/** So long that only the heartbeat takeover can flush a dead worker's entries within the test. */
const CLAIM_IDLE_MS = '600000';

let f: EngineFixture;
let child: WorkerProcess | undefined;
let worker: WorkerHandle | undefined;
let blocker: PoolClient | undefined;

beforeAll(async () => {
  f = await createEngineFixture({ connections: 4, partitions: 8 });
});
afterAll(async () => {
  await child?.kill9();
  await blocker?.query('ROLLBACK').catch(() => {});
  blocker?.release();
  await worker?.close();
  await f?.close();
});

describe('a worker killed with SIGKILL in the middle of a flush', () => {
  it('loses no event and counts none twice: another worker claims its pending entries', async () => {
    const subjects = Array.from({ length: SUBJECTS }, (_, i) => f.subject(`${f.keys.prefix}.c${i}`));
    // The late subject shares the first subject's partition, so that partition's first
    // batches (subject 0's events) commit before the blocked one.
    const latePartition = f.keys.partitionOf(subjects[0]!.id);
    let lateName = 0;
    while (f.keys.partitionOf(`${f.keys.prefix}.late${lateName}`) !== latePartition) lateName++;
    const late = f.subject(`${f.keys.prefix}.late${lateName}`);

    // ---- 1. Events: gens across every subject, exports with denials, gauges and holds.
    const tasks = mixedWorkload(f, subjects, GENS_PER_SUBJECT);
    // The late subject's one event comes after a quarter of the others: the worker blocks
    // on it while it still has most of the outbox to flush.
    const quarter = Math.floor(tasks.length / 4);
    let emitted = (await inChunks(tasks.slice(0, quarter), 500)).reduce((a, b) => a + b, 0);
    allowed(await f.engine.consume({ subject: late, charges: [{ metric: 'gens', amount: 1 }] }));
    emitted += (await inChunks(tasks.slice(quarter), 500)).reduce((a, b) => a + b, 0);

    const expected = await outboxEventIds(f.redis, f.keys);
    const total = [...expected.values()].reduce((n, ids) => n + ids.length, 0);
    expect(total).toBe(emitted + 1);
    expect(emitted).toBe(SUBJECTS * mixedWorkloadEvents(GENS_PER_SUBJECT));
    expect(total).toBeGreaterThanOrEqual(5_000);
    const subjectIds = [...subjects.map((s) => s.id), late.id];

    // ---- 2. The row lock the batch holding the late subject's event will wait for.
    blocker = await f.pool.connect();
    await blocker.query('BEGIN');
    await blocker.query('INSERT INTO usage_counters (subject_id, metric, period_start, value) VALUES ($1, $2, $3, 0)', [late.id, 'gens', new Date(PERIOD).toISOString()]);
    const { rows: pidRows } = await blocker.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const blockerPid = pidRows[0]!.pid;

    // ---- 3. A worker process, small batches; wait until it is inside the blocked transaction.
    child = spawnWorkerProcess(workerEnvVars(f.keys, redisUrl(), databaseUrl(), { QG_FLUSH_BATCH_SIZE: '50', QG_FLUSH_CLAIM_IDLE_MS: CLAIM_IDLE_MS }));
    const proc = child;
    await waitFor(
      "the worker process to commit some batches and block inside the late subject's batch transaction",
      async () => {
        if (proc.exited) throw new Error(`the worker process exited early:\n${proc.output()}`);
        const { rows } = await f.pool.query<{ n: string }>('SELECT count(*) AS n FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))', [blockerPid]);
        return Number(rows[0]!.n) > 0 && (await ledgerEventCount(f.pool, subjectIds)) > 0;
      },
      30_000,
    );
    const before = await ledgerEventCount(f.pool, subjectIds);
    expect(before).toBeGreaterThan(0);
    expect(before).toBeLessThan(total);

    // ---- 4. SIGKILL mid-transaction; then the lock goes (the dead worker's transaction can never commit).
    await child.kill9();
    expect((await ledgerEventIds(f.pool, [late.id])).size).toBe(0);
    // The dead consumer still owns the entries of the batch it was writing.
    const [pendingCount, , , owners] = (await f.redis.xpending(f.keys.outbox(latePartition), 'flush')) as [number, string, string, [string, string][]];
    expect(pendingCount).toBeGreaterThan(0);
    expect(owners.length).toBeGreaterThan(0);
    await blocker.query('ROLLBACK');
    blocker.release();
    blocker = undefined;

    // ---- 5. A new worker (in this process) takes over and drains everything.
    worker = await startTestWorker({
      keys: f.keys,
      redisUrl: redisUrl(),
      databaseUrl: databaseUrl(),
      clock: f.clock,
      env: { QG_FLUSH_BATCH_SIZE: '200', QG_FLUSH_CLAIM_IDLE_MS: CLAIM_IDLE_MS },
    });
    await waitForDrain(f.redis, f.keys, 30_000);
    // Nothing is left pending on any consumer, the dead one included.
    await waitFor('every pending outbox entry to be acknowledged', async () => {
      const summaries = await Promise.all(Array.from({ length: f.keys.partitions }, (_, p) => f.redis.xpending(f.keys.outbox(p), 'flush')));
      return summaries.every((x) => Number((x as [number])[0]) === 0);
    });

    // Exactly the emitted events, each once (event ids are the primary key with occurred_at,
    // so also count rows per subject: a duplicate would show up as an extra row).
    const stored = await ledgerEventIds(f.pool, subjectIds);
    expect(await ledgerEventCount(f.pool, subjectIds)).toBe(total);
    expect(sortedIds(stored)).toEqual(sortedIds(expected));

    // Per subject, metric and period: ledger SUM(delta) == usage_counters == Redis.
    const { rows, mismatches } = await compareLedger(f.pool, f.redis, f.keys, subjectIds);
    expect(mismatches).toEqual([]);
    // gens, exports, tokens and projects for each subject, gens for the late one.
    expect(rows).toHaveLength(SUBJECTS * 4 + 1);
    expect(rows.find((r) => r.subject === subjects[0]!.id && r.metric === 'tokens')).toMatchObject({ ledger: 40, period: PERIOD });
    expect(rows.find((r) => r.subject === subjects[0]!.id && r.metric === 'projects')).toMatchObject({ ledger: 2, period: null });
  });

  it('after repeated kill -9 restarts, the outbox groups hold no dead consumer', async () => {
    const subject = f.subject(`${f.keys.prefix}.restarts`);
    const consumersNow = async () => {
      const lists = await Promise.all(Array.from({ length: f.keys.partitions }, (_, p) => f.redis.xinfo('CONSUMERS', f.keys.outbox(p), 'flush') as Promise<string[][]>));
      return new Set(lists.flat().map((c) => c[1]!));
    };
    const dead = new Set<string>();
    for (let restart = 0; restart < 3; restart++) {
      const known = await consumersNow();
      const proc = spawnWorkerProcess(workerEnvVars(f.keys, redisUrl(), databaseUrl(), { QG_FLUSH_CLAIM_IDLE_MS: CLAIM_IDLE_MS }));
      child = proc;
      // It has joined the groups (its flush jobs ran) with work of its own in flight.
      const joined = await waitFor(
        'the worker process to join the outbox groups',
        async () => {
          if (proc.exited) throw new Error(`the worker process exited early:\n${proc.output()}`);
          await Promise.all(Array.from({ length: 20 }, () => f.engine.consume({ subject, charges: [{ metric: 'gens', amount: 1 }] })));
          const fresh = [...(await consumersNow())].filter((name) => !known.has(name));
          return fresh.length > 0 ? fresh : null;
        },
        60_000,
        100,
      );
      for (const name of joined) dead.add(name);
      await proc.kill9();
    }
    await waitFor('the dead consumers to be removed from every group', async () => {
      const left = await consumersNow();
      return [...dead].every((name) => !left.has(name));
    });
    await waitForDrain(f.redis, f.keys, 30_000);
    const { mismatches } = await compareLedger(f.pool, f.redis, f.keys, [subject.id]);
    expect(mismatches).toEqual([]);
  }, 180_000);
});
