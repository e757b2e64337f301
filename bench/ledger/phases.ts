import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { Pool } from 'pg';
import type { Policy } from '../../src/config/policy.js';
import { createPool } from '../../src/db/pool.js';
import type { LedgerEvent } from '../../src/ledger/ledger-event.js';
import { PgHydrator } from '../../src/ledger/pg-hydrator.js';
import { QuotaEngine } from '../../src/quota/engine.js';
import type { KeySchema } from '../../src/redis/keys.js';
import type { SubjectRef } from '../../src/quota/types.js';
import { summariseProfile } from '../shared/cpu-profile.js';
import { consumeInput } from '../shared/consume-workload.js';
import { cpuSpent, readCpu, type CpuReading, type CpuSources } from './cpu.js';
import { reconciliations, reconciliationsDelta, reconciliationSettled, recreateDatabase, seedSubjects } from './database.js';
import { restoreOutboxes, type OutboxSnapshot } from './fill.js';
import { rawInsert } from './raw.js';
import type { FlushRun, LagRun } from './report.js';
import { outboxLength, sampleDelta, startWorkers, waitDrained, watchDrain, type Workers } from './workers.js';
import { paced } from '../shared/paced.js';
import { deletePrefix } from '../shared/redis-keys.js';

/** What both phases of `npm run bench:ledger` work with. */
export interface LedgerBench {
  /** A client of the benchmark's Redis, for everything but the decisions. */
  redis: Redis;
  redisUrl: string;
  keys: KeySchema;
  policy: Policy;
  /** The workload's subjects, every one hydrated in Redis (the fill does it). */
  subjects: readonly SubjectRef[];
  /** The worker processes' environment, on top of this process's. */
  workerVars: Record<string, string> & { QG_KEY_PREFIX: string };
  databaseUrl: string;
  workers: number;
  /** Where the workers write their CPU profiles; none when unset. */
  profileDir: string | undefined;
  /** Registers a close step with the benchmark's cleanup; returns it made idempotent, to close early. */
  closeLater(close: () => Promise<unknown> | void): () => Promise<void>;
}

/** Longest any drain may take before the run is called failed (a stuck worker must not hang the benchmark). */
const DRAIN_TIMEOUT_MS = 120_000;
/** How long a worker's start-up reconciliation may take before the run goes on without it. */
const RECONCILE_WAIT_MS = 10_000;

const profileFile = (b: LedgerBench, name: string, worker = 1) => join(b.profileDir!, `${name}-${worker}.cpuprofile`);

/** A new database for the workers, with the workload's subjects in it, and a pool on it. */
async function workerDatabase(b: LedgerBench): Promise<{ pool: Pool; close: () => Promise<void> }> {
  await recreateDatabase(b.databaseUrl);
  const pool = createPool(b.databaseUrl, { max: 2, applicationName: 'quotagate-bench' });
  const close = b.closeLater(() => pool.end());
  await seedSubjects(pool, b.subjects);
  return { pool, close };
}

/**
 * Starts the worker processes and waits until they are idle; cleanup stops them too, should
 * the run fail while they are up. Each run starts as a new deployment would, with no job
 * schedulers or jobs left in Redis by the last run's workers. A worker runs a reconciliation
 * as soon as it starts (BullMQ runs an `every` scheduler at once): it is let finish, on the
 * empty ledger, so that it does not run inside the measurement.
 */
async function startIdleWorkers(b: LedgerBench, pool: Pool, vars: Record<string, string>, profileName: string): Promise<Workers> {
  await deletePrefix(b.redis, `${b.workerVars.QG_KEY_PREFIX}:bull`);
  const profile = b.profileDir ? (i: number) => profileFile(b, profileName, i + 1) : undefined;
  const workers = await startWorkers(b.workers, { ...b.workerVars, ...vars }, profile);
  b.closeLater(() => workers.stop());
  if (!(await reconciliationSettled(pool, RECONCILE_WAIT_MS))) console.log(`no reconciliation ran within ${RECONCILE_WAIT_MS / 1000} s of starting the workers`);
  return workers;
}

/**
 * Phase 1, at one batch size: the raw-insert baseline of `rows` on a new database, then the
 * same entries (`snapshot`) put back under idle workers on another new database, timed from
 * the first commit to empty outboxes.
 */
export async function measureFlush(b: LedgerBench, batchSize: number, connections: number, rows: readonly LedgerEvent[], snapshot: OutboxSnapshot): Promise<FlushRun> {
  const label = `flush run, batch size ${batchSize}`;
  await recreateDatabase(b.databaseUrl);
  const raw = await rawInsert(b.databaseUrl, rows, batchSize, connections);

  const { pool, close } = await workerDatabase(b);
  const profileName = `flush-batch-${batchSize}`;
  const workers = await startIdleWorkers(b, pool, { QG_FLUSH_BATCH_SIZE: String(batchSize) }, profileName);
  const sources: CpuSources = { redis: b.redis, pool, workers: workers.cpuSeconds };
  const reconciledBefore = await reconciliations(pool);
  if ((await outboxLength(b.redis, b.keys)) !== 0) throw new Error(`${label}: the outboxes are not empty before it`);
  const restoredAt = performance.now();
  await restoreOutboxes(b.redis, snapshot);
  let atStart: CpuReading | undefined;
  const drain = await watchDrain(b.redis, b.keys, rows.length, DRAIN_TIMEOUT_MS, async () => {
    atStart = await readCpu(sources);
  });
  const wallSeconds = (performance.now() - restoredAt) / 1000;
  // Read while the workers' database connections are still open (backend CPU is read per connection).
  const atEnd = await readCpu(sources);
  // The workers were idle before: their metrics hold this run's batches only.
  const { batch, events: fresh } = await workers.sample();
  const reconciled = reconciliationsDelta(reconciledBefore, await reconciliations(pool));
  await workers.stop();
  // Also proves that no entry was written twice (a duplicate is skipped, at a fraction of the cost).
  if (fresh !== rows.length) throw new Error(`${label}: the workers wrote ${fresh} events new to the ledger, expected ${rows.length}`);
  await expectLedger(pool, rows.length, label);
  await close();
  return {
    batchSize,
    events: drain.leftAtStart,
    seconds: (drain.drainedAt - drain.startedAt) / 1000,
    wallSeconds,
    cpu: cpuSpent(atStart!, atEnd),
    batches: batch,
    raw,
    reconciled,
    profile: b.profileDir ? summariseProfile(profileFile(b, profileName)) : undefined,
  };
}

export interface LagLoad {
  rate: number;
  warmupMs: number;
  durationMs: number;
}

/**
 * Phase 2: QuotaEngine.consume at a fixed rate (open loop) for a random subject each, with
 * the workers as configured (QG_FLUSH_BATCH_SIZE and all) draining on a new database.
 */
export async function measureLag(b: LedgerBench, load: LagLoad): Promise<LagRun> {
  if ((await outboxLength(b.redis, b.keys)) !== 0) throw new Error('the outboxes are not empty before the lag run');
  const { pool, close } = await workerDatabase(b);
  const workers = await startIdleWorkers(b, pool, {}, 'lag');
  const reconciledBefore = await reconciliations(pool);
  const decider = new Redis(b.redisUrl, { maxRetriesPerRequest: 2 });
  b.closeLater(() => decider.disconnect());
  // The subjects are hydrated: the ledger is never asked (and would answer 0: it is empty).
  const engine = new QuotaEngine({ redis: decider, keys: b.keys, policy: b.policy, hydrator: new PgHydrator(pool) });
  const decide = async () => {
    const d = await engine.consume(consumeInput(b.subjects[(Math.random() * b.subjects.length) | 0]!));
    if (d.outcome !== 'allowed') throw new Error(`the lag run's decisions must all be allowed; the engine answered ${JSON.stringify(d)}`);
  };

  const warmup = await paced(load.rate, load.warmupMs, decide);
  // A new worker process lags while it warms up (JIT, connections): its warm-up events are
  // all committed before the measured window, so they are neither in it nor in its histograms.
  await waitDrained(b.redis, b.keys, DRAIN_TIMEOUT_MS);
  const sources: CpuSources = { redis: b.redis, pool, workers: workers.cpuSeconds };
  const before = { sample: await workers.sample(), cpu: await readCpu(sources) };
  // occurred_at is this machine's clock (the engine's), as recorded_at is (Postgres on the same host).
  const measuredFrom = new Date();
  const decisions = await paced(load.rate, load.durationMs, decide);
  const decidedAt = performance.now();
  await waitDrained(b.redis, b.keys, DRAIN_TIMEOUT_MS);
  const drainSeconds = (performance.now() - decidedAt) / 1000;
  const after = { sample: await workers.sample(), cpu: await readCpu(sources) };
  const measured = sampleDelta(before.sample, after.sample);
  const reconciled = reconciliationsDelta(reconciledBefore, await reconciliations(pool));
  await workers.stop();
  await expectLedger(pool, warmup.completed + decisions.completed, 'lag run');
  const ledger = await ledgerLag(pool, measuredFrom);
  await close();
  return {
    ...load,
    decisions,
    drainSeconds,
    ledger,
    histogram: measured.lag,
    batches: measured.batch,
    cpu: cpuSpent(before.cpu, after.cpu),
    reconciled,
    profile: b.profileDir ? summariseProfile(profileFile(b, 'lag')) : undefined,
  };
}

/** The ledger holds exactly `events` events, and the counters add up to them (every event is a +1 consume). */
async function expectLedger(pool: Pool, events: number, label: string): Promise<void> {
  const { rows } = await pool.query<{ events: string; counted: string | null }>(
    `SELECT (SELECT count(*) FROM usage_events) AS events, (SELECT sum(value) FROM usage_counters) AS counted`,
  );
  const { events: stored, counted } = rows[0]!;
  if (Number(stored) !== events || Number(counted) !== events) {
    throw new Error(`${label}: the ledger holds ${stored} events and counters summing to ${counted}, expected ${events} of each`);
  }
}

/**
 * Exact lag percentiles of the events decided since `from`, from the ledger: recorded_at is
 * the writing transaction's start (now()), so this is the lag up to the batch's write, not
 * its commit; the worker's histogram has the commit.
 */
async function ledgerLag(pool: Pool, from: Date): Promise<LagRun['ledger']> {
  const { rows } = await pool.query<{ events: string; p50: number; p99: number; max: number }>(
    `SELECT count(*) AS events,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY lag) AS p50,
            percentile_cont(0.99) WITHIN GROUP (ORDER BY lag) AS p99,
            max(lag) AS max
       FROM (SELECT extract(epoch FROM recorded_at - occurred_at) * 1000 AS lag FROM usage_events WHERE occurred_at >= $1) AS e`,
    [from],
  );
  const r = rows[0]!;
  return { events: Number(r.events), p50Ms: Number(r.p50), p99Ms: Number(r.p99), maxMs: Number(r.max) };
}
