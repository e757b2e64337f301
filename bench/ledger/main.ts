/**
 * `npm run bench:ledger`: how fast the worker moves outbox events into the Postgres ledger,
 * and how far the ledger trails the decisions under a steady load. Writes the
 * "Ledger (npm run bench:ledger)" section of bench/RESULTS.md.
 *
 * 1. Flush throughput: the outboxes are filled once with BENCH_EVENTS real consume-script
 *    events (10,000 subjects over every partition); for each batch size they are put back
 *    under idle worker processes, which drain them: events/s from the first commit to empty
 *    outboxes. Beside each, the baseline: the same rows inserted straight into usage_events
 *    with the same statement shape (bench/ledger-raw.ts).
 * 2. Lag: QuotaEngine.consume at a fixed BENCH_RATE (open loop) with the workers running;
 *    lag per event from the ledger itself (recorded_at − occurred_at) and from the workers'
 *    quotagate_ledger_lag_seconds histogram.
 *
 * Every run starts on a freshly created and migrated database. Workers, Redis, Postgres and
 * this process share the machine's cores.
 *
 * Environment: BENCH_REDIS_URL (default: a private redis-server), BENCH_DATABASE_URL
 * (postgres://postgres@127.0.0.1:5432/quotagate_bench_ledger; DROPPED and recreated, so its
 * name must contain "bench"), BENCH_EVENTS (200000), BENCH_BATCH_SIZES (500,1000,2000),
 * BENCH_WORKERS (1), BENCH_RATE (5000 decisions/s), BENCH_WARMUP_MS (2000), BENCH_DURATION_MS
 * (20000), BENCH_CPU_PROF (a directory: write each worker's V8 CPU profile there and
 * summarise it). QG_* variables reach the workers as in production (QG_WORKER_CONCURRENCY,
 * QG_FLUSH_INTERVAL_MS, ...); QG_FLUSH_BATCH_SIZE is the lag run's batch size.
 */
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { loadEnv } from '../../src/config/env.js';
import { createPool } from '../../src/db/pool.js';
import { KeySchema } from '../../src/redis/keys.js';
import { benchPolicy, subjects } from '../shared/consume-workload.js';
import { envInt } from '../shared/env.js';
import { postgresVersion } from './database.js';
import { fillOutbox, readOutboxes, takeOutboxes } from './fill.js';
import { measureFlush, measureLag, type LedgerBench } from './phases.js';
import { ledgerReport, type FlushRun } from './report.js';
import { benchRedis } from '../shared/private-redis.js';
import { deletePrefix } from '../shared/redis-keys.js';
import { redisVersion } from '../shared/redis-stats.js';
import { runInfo, saveFigures } from '../shared/results.js';
import { renderResults } from '../render.js';
import { runBenchmark, teardownSteps } from '../shared/run-benchmark.js';

const CONFIG = {
  events: envInt('BENCH_EVENTS', 200_000),
  batchSizes: envIntList('BENCH_BATCH_SIZES', [500, 1_000, 2_000]),
  workers: envInt('BENCH_WORKERS', 1),
  rate: envInt('BENCH_RATE', 5_000),
  warmupMs: envInt('BENCH_WARMUP_MS', 2_000),
  durationMs: envInt('BENCH_DURATION_MS', 20_000),
};
const DATABASE_URL = process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/quotagate_bench_ledger';
const PROFILE_DIR = process.env.BENCH_CPU_PROF ? resolve(process.env.BENCH_CPU_PROF) : undefined;

/** Undo steps of everything the run makes (see teardownSteps). */
const teardown = teardownSteps();

/** Registers `close` with the teardown and returns it made idempotent, so a phase can close early and a failed one still closes. */
function closeLater(close: () => Promise<unknown> | void): () => Promise<void> {
  let closed: Promise<void> | undefined;
  const once = () =>
    (closed ??= Promise.resolve()
      .then(close)
      .then(() => {}));
  teardown.push(once);
  return once;
}

async function main(): Promise<void> {
  if (PROFILE_DIR) mkdirSync(PROFILE_DIR, { recursive: true });
  const server = await benchRedis();
  teardown.push(() => server.stop());
  const redis = new Redis(server.url, { maxRetriesPerRequest: 2 });
  teardown.push(() => redis.disconnect());
  const prefix = `qgbench-ledger-${randomBytes(4).toString('hex')}`;
  // A private server is thrown away whole; on a shared one, only this run's keys go.
  if (!server.owned) teardown.push(() => deletePrefix(redis, prefix));
  console.log(`Redis: ${server.describe}; key prefix ${prefix}; database ${DATABASE_URL}`);

  const workerVars = { REDIS_URL: server.url, DATABASE_URL, QG_KEY_PREFIX: prefix, LOG_LEVEL: 'warn' };
  // The workers' settings exactly as they parse them.
  const env = loadEnv({ ...process.env, ...workerVars });
  const bench: LedgerBench = {
    redis,
    redisUrl: server.url,
    keys: new KeySchema(prefix, env.QG_PARTITIONS),
    policy: benchPolicy(),
    subjects: subjects(),
    workerVars,
    databaseUrl: DATABASE_URL,
    workers: CONFIG.workers,
    profileDir: PROFILE_DIR,
    closeLater,
  };
  const subs = bench.subjects;

  const started = performance.now();
  await fillOutbox(redis, bench.keys, bench.policy, subs, CONFIG.events);
  const rows = await readOutboxes(redis, bench.keys);
  if (rows.length !== CONFIG.events) throw new Error(`the outboxes hold ${rows.length} entries after filling ${CONFIG.events}`);
  const snapshot = await takeOutboxes(redis, bench.keys);
  const fillSeconds = (performance.now() - started) / 1000;
  console.log(
    `filled the outboxes with ${CONFIG.events.toLocaleString('en-US')} consume events over ${subs.length.toLocaleString('en-US')} subjects in ${fillSeconds.toFixed(1)} s`,
  );

  const flushRuns: FlushRun[] = [];
  for (const batchSize of CONFIG.batchSizes) {
    const run = await measureFlush(bench, batchSize, env.QG_WORKER_CONCURRENCY, rows, snapshot);
    flushRuns.push(run);
    console.log(
      `batch size ${String(batchSize).padStart(5)}: flusher ${Math.round(run.events / run.seconds).toLocaleString('en-US')} events/s ` +
        `(${run.events.toLocaleString('en-US')} in ${run.seconds.toFixed(2)} s), raw insert ${Math.round(run.raw.rows / run.raw.seconds).toLocaleString('en-US')} rows/s`,
    );
  }
  const lagRun = await measureLag(bench, { rate: CONFIG.rate, warmupMs: CONFIG.warmupMs, durationMs: CONFIG.durationMs });

  const pool = createPool(DATABASE_URL, { max: 1, applicationName: 'quotagate-bench' });
  closeLater(() => pool.end());
  const figures = {
    run: runInfo(),
    config: {
      ...CONFIG,
      concurrency: env.QG_WORKER_CONCURRENCY,
      flushIntervalMs: env.QG_FLUSH_INTERVAL_MS,
      lagBatchSize: env.QG_FLUSH_BATCH_SIZE,
      partitions: env.QG_PARTITIONS,
      subjects: subs.length,
    },
    flushRuns,
    lagRun,
    redisVersion: await redisVersion(redis),
    redis: server.describe,
    postgresVersion: await postgresVersion(pool),
    profiled: PROFILE_DIR !== undefined,
  };
  console.log(ledgerReport(figures).summary);
  console.log(`\nsaved ${saveFigures('ledger', figures)}; rendered ${renderResults()} (${((performance.now() - started) / 1000).toFixed(0)} s after the start of the fill)`);
}

/** A comma-separated list of whole numbers > 0 from the environment, or `fallback`. */
function envIntList(name: string, fallback: number[]): number[] {
  const raw = process.env[name];
  if (!raw) return fallback;
  const values = raw.split(',').map((v) => Number(v.trim()));
  if (values.some((v) => !Number.isInteger(v) || v <= 0)) throw new Error(`${name} must be whole numbers > 0 separated by commas, got "${raw}"`);
  return values;
}

runBenchmark(main, teardown.run, 15_000);
