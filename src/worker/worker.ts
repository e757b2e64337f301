import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Env } from '../config/env.js';
import type { Policy } from '../config/policy.js';
import { createPool } from '../db/pool.js';
import { PgHydrator } from '../ledger/pg-hydrator.js';
import type { OutboxFlusher } from '../ledger/outbox-flusher.js';
import { systemClock, type Clock } from '../lib/clock.js';
import { WorkerMetrics } from '../observability/worker-metrics.js';
import { QuotaEngine } from '../quota/engine.js';
import { abuseJob } from '../notify/abuse-job.js';
import { ThresholdNotifier } from '../notify/thresholds.js';
import { webhookJob } from '../notify/webhook-job.js';
import { KeySchema } from '../quota/keys.js';
import { expireJob } from './expire-job.js';
import { flushJob } from './flush-job.js';
import type { JobData, JobKind, Schedule, WorkerContext } from './job.js';
import { ledgerPartitionsJob } from './ledger-partitions-job.js';
import { reconcileJob, type ReconcileRun } from './reconcile-job.js';

/** The BullMQ queue every quotagate job runs on; braces keep its keys in one Cluster slot. */
export const QUEUE_NAME = '{jobs}';
/** How often the worker checks that its job schedulers still exist in Redis. */
const SCHEDULE_CHECK_MS = 5_000;

export interface WorkerOptions {
  env: Env;
  policy: Policy;
  logger: Logger;
  clock?: Clock;
}

export interface WorkerHandle {
  readonly flusher: OutboxFlusher;
  /** Runs a reconciliation now, as the scheduled job does. */
  reconcile(trigger: 'schedule' | 'manual'): Promise<ReconcileRun>;
  readonly metrics: WorkerMetrics;
  /** Adds a job to run now (e.g. a manual reconciliation); resolves with its id. */
  enqueue(job: string, data?: JobData): Promise<string>;
  /** Finishes the jobs in progress (their batches commit and are acknowledged), then closes connections. */
  close(): Promise<void>;
}

/**
 * The worker: BullMQ job schedulers run one flush job per outbox partition every
 * QG_FLUSH_INTERVAL_MS (so partitions spread over every worker process that runs) and
 * the housekeeping jobs; any number of worker processes can run side by side.
 */
export async function startWorker(options: WorkerOptions): Promise<WorkerHandle> {
  const { env, policy, logger } = options;
  const clock = options.clock ?? systemClock;
  const keys = new KeySchema(env.QG_KEY_PREFIX, env.QG_PARTITIONS);
  const prefix = `${env.QG_KEY_PREFIX}:bull`;
  // BullMQ needs a client that retries forever; the jobs' own client fails fast instead.
  const bullRedis = new Redis(env.REDIS_URL, { maxRetriesPerRequest: null, connectionName: 'quotagate-worker-jobs' });
  const redis = new Redis(env.REDIS_URL, { maxRetriesPerRequest: 1, connectionName: 'quotagate-worker' });
  for (const client of [bullRedis, redis]) client.on('error', () => {}); // reconnects; failures surface in jobs
  const pool = createPool(env.DATABASE_URL, {
    applicationName: 'quotagate-worker',
    onError: (err) => logger.warn({ err: err.message }, 'postgres idle connection error'),
  });
  const queue = new Queue<JobData>(QUEUE_NAME, { connection: bullRedis, prefix });
  const metrics = new WorkerMetrics((p) => redis.xlen(keys.outbox(p)), env.QG_PARTITIONS);
  const engine = new QuotaEngine({
    redis,
    keys,
    policy,
    hydrator: new PgHydrator(pool),
    clock,
    options: {
      idempotencyTtlMs: env.QG_IDEMPOTENCY_TTL_SECONDS * 1000,
      holdTtlMs: env.QG_RESERVATION_TTL_SECONDS * 1000,
      counterGraceMs: env.QG_COUNTER_GRACE_SECONDS * 1000,
    },
  });
  const ctx: WorkerContext = { env, policy, redis, keys, pool, engine, queue, metrics, logger, clock };

  const thresholds = new ThresholdNotifier(ctx);
  const flush = flushJob(ctx, [metrics, thresholds]);
  const reconcile = reconcileJob(ctx);
  const kinds: JobKind[] = [flush, ledgerPartitionsJob(ctx), expireJob(ctx), reconcile, abuseJob(ctx), webhookJob(ctx)];
  const byName = new Map(kinds.map((k) => [k.name, k]));
  const schedules = kinds.flatMap((k) => k.schedules);
  const upsertSchedule = (s: Schedule) =>
    queue.upsertJobScheduler(s.id, { every: s.everyMs }, { name: s.job, data: s.data ?? {}, opts: { removeOnComplete: true, removeOnFail: 100 } });
  for (const s of schedules) await upsertSchedule(s);

  // The schedulers live in Redis: a Redis that lost its data (restart without persistence,
  // failover, FLUSHALL) lost them too, and no flush would ever run again while the outbox
  // grows. Put back whichever is missing.
  const restoreSchedules = async () => {
    const found = await Promise.all(schedules.map((s) => queue.getJobScheduler(s.id)));
    const missing = schedules.filter((_, i) => !found[i]);
    for (const s of missing) await upsertSchedule(s);
    if (missing.length > 0) logger.warn({ schedules: missing.map((s) => s.id) }, 'job schedulers were missing (Redis lost its data?); recreated them');
  };
  let scheduleCheck: Promise<void> = Promise.resolve();
  const scheduleTimer = setInterval(() => {
    scheduleCheck = scheduleCheck.then(restoreSchedules).catch((err: Error) => logger.warn({ err: err.message }, 'could not check the job schedulers'));
  }, SCHEDULE_CHECK_MS);
  scheduleTimer.unref();

  // One line when a job kind starts failing and one when it recovers, not one per run.
  const failing = new Set<string>();
  const worker = new Worker<JobData>(
    QUEUE_NAME,
    async (job) => {
      const kind = byName.get(job.name);
      if (!kind) throw new Error(`unknown job "${job.name}"`);
      return kind.run(job.data);
    },
    { connection: bullRedis, prefix, concurrency: env.QG_WORKER_CONCURRENCY },
  );
  worker.on('failed', (job, err) => {
    const name = job?.name ?? 'unknown';
    metrics.jobFailures.inc({ job: name });
    if (!failing.has(name)) logger.warn({ job: name, err: err.message }, 'worker job failed; it will run again');
    failing.add(name);
  });
  worker.on('completed', (job) => {
    if (failing.delete(job.name)) logger.info({ job: job.name }, 'worker job recovered');
  });
  worker.on('error', (err) => logger.warn({ err: err.message }, 'worker error'));
  logger.info({ partitions: env.QG_PARTITIONS, jobs: [...byName.keys()] }, 'worker started');

  let closing: Promise<void> | undefined;
  return {
    flusher: flush.flusher,
    reconcile: reconcile.reconcile,
    metrics,
    async enqueue(name, data = {}) {
      const kind = byName.get(name);
      if (!kind) throw new Error(`unknown job "${name}"`);
      const job = await queue.add(name, data, {
        attempts: kind.attempts ?? 1,
        backoff: { type: 'exponential', delay: 1_000 },
        removeOnComplete: 1_000,
        removeOnFail: 1_000,
      });
      return job.id!;
    },
    close: () =>
      (closing ??= (async () => {
        clearInterval(scheduleTimer);
        await scheduleCheck;
        await worker.close();
        await thresholds.idle(); // the last batches' threshold checks still enqueue webhooks
        await queue.close();
        redis.disconnect();
        bullRedis.disconnect();
        await pool.end();
      })()),
  };
}
