import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Env } from '../config/env.js';
import { createPool } from '../db/pool.js';
import { LedgerWriter } from '../ledger/ledger-writer.js';
import { OutboxFlusher } from '../ledger/outbox-flusher.js';
import { systemClock, type Clock } from '../lib/clock.js';
import { WorkerMetrics } from '../observability/worker-metrics.js';
import { KeySchema } from '../quota/keys.js';

/** The BullMQ queue every quotagate job runs on; braces keep its keys in one Cluster slot. */
export const QUEUE_NAME = '{jobs}';
/** Longest a flush job keeps draining before it lets the next scheduled run take over. */
const FLUSH_BUDGET_MS = 2_000;
/** How many monthly ledger partitions are kept created ahead. */
const LEDGER_MONTHS_AHEAD = 3;

export interface WorkerOptions {
  env: Env;
  logger: Logger;
  clock?: Clock;
}

export interface WorkerHandle {
  readonly flusher: OutboxFlusher;
  readonly metrics: WorkerMetrics;
  /** Finishes the jobs in progress (their batches commit and are acknowledged), then closes connections. */
  close(): Promise<void>;
}

type JobData = { partition: number } | Record<string, never>;

/**
 * The worker: BullMQ job schedulers run one flush job per outbox partition every
 * QG_FLUSH_INTERVAL_MS, so partitions spread over as many worker processes as are running,
 * and a daily job keeps the ledger's monthly partitions created ahead.
 */
export async function startWorker(options: WorkerOptions): Promise<WorkerHandle> {
  const { env, logger } = options;
  const clock = options.clock ?? systemClock;
  const keys = new KeySchema(env.QG_KEY_PREFIX, env.QG_PARTITIONS);
  const prefix = `${env.QG_KEY_PREFIX}:bull`;
  // BullMQ needs clients that retry forever; the flusher's own client fails fast instead.
  const bullRedis = new Redis(env.REDIS_URL, { maxRetriesPerRequest: null, connectionName: 'quotagate-worker-jobs' });
  const redis = new Redis(env.REDIS_URL, { maxRetriesPerRequest: 1, connectionName: 'quotagate-worker' });
  for (const client of [bullRedis, redis]) client.on('error', () => {}); // reconnects; failures surface in jobs
  const pool = createPool(env.DATABASE_URL, {
    applicationName: 'quotagate-worker',
    onError: (err) => logger.warn({ err: err.message }, 'postgres idle connection error'),
  });

  const consumer = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const metrics = new WorkerMetrics((p) => redis.xlen(keys.outbox(p)), env.QG_PARTITIONS);
  const flusher = new OutboxFlusher({
    redis,
    keys,
    writer: new LedgerWriter(pool),
    consumer,
    options: { batchSize: env.QG_FLUSH_BATCH_SIZE, claimIdleMs: env.QG_FLUSH_CLAIM_IDLE_MS },
    clock,
    logger,
    observer: metrics,
  });

  const ensureLedgerPartitions = () =>
    pool.query('SELECT ensure_usage_event_partitions((now() AT TIME ZONE $1)::date, $2)', ['UTC', LEDGER_MONTHS_AHEAD]);

  const queue = new Queue<JobData>(QUEUE_NAME, { connection: bullRedis, prefix });
  for (let p = 0; p < env.QG_PARTITIONS; p++) {
    await queue.upsertJobScheduler(
      `flush:${p}`,
      { every: env.QG_FLUSH_INTERVAL_MS },
      { name: 'flush', data: { partition: p }, opts: { removeOnComplete: true, removeOnFail: 100 } },
    );
  }
  await queue.upsertJobScheduler('ledger-partitions', { every: 86_400_000 }, { name: 'ledger-partitions', opts: { removeOnComplete: true, removeOnFail: 10 } });

  // One line when a job kind starts failing and one when it recovers, not one per run.
  const failing = new Set<string>();
  const worker = new Worker<JobData>(
    QUEUE_NAME,
    async (job: Job<JobData>) => {
      if (job.name === 'flush') return flusher.drain((job.data as { partition: number }).partition, FLUSH_BUDGET_MS);
      if (job.name === 'ledger-partitions') return (await ensureLedgerPartitions()).rows[0];
      throw new Error(`unknown job ${job.name}`);
    },
    { connection: bullRedis, prefix, concurrency: env.QG_WORKER_CONCURRENCY },
  );
  worker.on('failed', (job, err) => {
    const kind = job?.name ?? 'unknown';
    metrics.jobFailures.inc({ job: kind });
    if (!failing.has(kind)) logger.warn({ job: kind, err: err.message }, 'worker job failed; it will run again');
    failing.add(kind);
  });
  worker.on('completed', (job) => {
    if (failing.delete(job.name)) logger.info({ job: job.name }, 'worker job recovered');
  });
  worker.on('error', (err) => logger.warn({ err: err.message }, 'worker error'));
  logger.info({ consumer, partitions: env.QG_PARTITIONS }, 'worker started');

  let closing: Promise<void> | undefined;
  return {
    flusher,
    metrics,
    close: () =>
      (closing ??= (async () => {
        await worker.close();
        await queue.close();
        redis.disconnect();
        bullRedis.disconnect();
        await pool.end();
      })()),
  };
}
