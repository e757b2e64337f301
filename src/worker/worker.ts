import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Worker } from 'bullmq';
import type { Logger } from 'pino';
import type { Env } from '../config/env.js';
import type { Policy } from '../config/policy.js';
import { createPool } from '../db/pool.js';
import { ConsumerHeartbeat } from '../ledger/consumer-heartbeat.js';
import { PgHydrator } from '../ledger/pg-hydrator.js';
import type { OutboxFlusher } from '../ledger/outbox-flusher.js';
import { systemClock, type Clock } from '../lib/clock.js';
import { serveMetrics, type MetricsServer } from '../observability/metrics-server.js';
import { WorkerMetrics } from '../observability/worker-metrics.js';
import { QuotaEngine } from '../quota/engine.js';
import { abuseJob } from '../notify/abuse-job.js';
import { deadLetterNotifier } from '../notify/dead-letter-notifier.js';
import { projectedExceedJob } from '../notify/projected-exceed-job.js';
import { ThresholdNotifier } from '../notify/thresholds.js';
import { webhookJob } from '../notify/webhook-job.js';
import { KeySchema } from '../redis/keys.js';
import { openRedis } from '../redis/client.js';
import { readOutboxStates } from '../redis/outbox-stream.js';
import { Scripts } from '../redis/scripts/registry.js';
import { expireJob } from './expire-job.js';
import { flushJob } from './flush-job.js';
import type { JobData, JobKind, Schedule, WorkerContext } from '../jobs/job.js';
import { jobQueue, onDemandJobOptions, QUEUE_NAME, queuePrefix } from '../jobs/job-queue.js';
import { ledgerPartitionsJob } from './ledger-partitions-job.js';
import { reconcileJob, type ReconcileRun } from './reconcile-job.js';

/** How often the worker checks that its job schedulers still exist in Redis. */
const SCHEDULE_CHECK_MS = 5_000;
/** How long a stopping worker spends flushing what the outbox still holds. */
const FINAL_FLUSH_BUDGET_MS = 5_000;

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
  /** Where its Prometheus metrics are served (QG_WORKER_METRICS_PORT); undefined when not. */
  readonly metricsUrl: string | undefined;
  /**
   * Finishes the jobs in progress (their batches commit and are acknowledged), flushes what
   * the outbox still holds (bounded: what is left waits for another worker), then closes connections.
   */
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
  const prefix = queuePrefix(env.QG_KEY_PREFIX);
  // BullMQ needs a client that retries forever; the jobs' own client fails fast instead.
  const bullRedis = openRedis(env, { maxRetriesPerRequest: null, connectionName: 'quotagate-worker-jobs' });
  const redis = openRedis(env, { maxRetriesPerRequest: 1, connectionName: 'quotagate-worker' });
  for (const client of [bullRedis, redis]) client.on('error', () => {}); // reconnects; failures surface in jobs
  const pool = createPool(env.DATABASE_URL, {
    applicationName: 'quotagate-worker',
    onError: (err) => logger.warn({ err: err.message }, 'postgres idle connection error'),
  });
  const queue = jobQueue(bullRedis, env.QG_KEY_PREFIX);
  const metrics = new WorkerMetrics(() => readOutboxStates(redis, keys, env.QG_PARTITIONS), env.QG_PARTITIONS);
  // One registry on the jobs' connection: the engine and the ledger jobs run their scripts through it.
  const scripts = new Scripts(redis);
  const engine = new QuotaEngine({
    redis,
    scripts,
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
  const ctx: WorkerContext = { env, policy, redis, scripts, keys, pool, engine, queue, metrics, logger, clock };

  const thresholds = new ThresholdNotifier(ctx);
  // Unique per process, so a dead worker's pending entries are told apart and taken over.
  const heartbeat = new ConsumerHeartbeat(redis, keys, `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`);
  await heartbeat.start();
  const flush = flushJob(ctx, heartbeat, [metrics, thresholds], [metrics, deadLetterNotifier(ctx)]);
  const reconcile = reconcileJob(ctx);
  const kinds: JobKind[] = [flush, ledgerPartitionsJob(ctx), expireJob(ctx), reconcile, abuseJob(ctx), projectedExceedJob(ctx), webhookJob(ctx)];
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
    {
      connection: bullRedis,
      prefix,
      concurrency: env.QG_WORKER_CONCURRENCY,
      // A worker killed while it held a job (its lock is renewed every 5 s while alive) gives
      // it back within 10–15 s rather than BullMQ's 30–60 s: a flush schedule whose next run
      // the dead worker had not yet added waits for that.
      lockDuration: 10_000,
      stalledInterval: 5_000,
    },
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
  const metricsServer: MetricsServer | undefined =
    env.QG_WORKER_METRICS_PORT === undefined ? undefined : await serveMetrics(metrics.registry, env.HOST, env.QG_WORKER_METRICS_PORT);
  logger.info({ partitions: env.QG_PARTITIONS, jobs: [...byName.keys()], metrics: metricsServer?.url }, 'worker started');

  // Without it, what the last requests before a shutdown settled would wait for the next
  // worker to start (or for the other workers' next runs).
  // Wall time, not `clock`: this bounds a shutdown, and tests run the worker on a fake clock.
  const finalFlush = async () => {
    const deadline = Date.now() + FINAL_FLUSH_BUDGET_MS;
    for (let p = 0; p < env.QG_PARTITIONS && Date.now() < deadline; p++) {
      await flush.flusher
        .drain(p, deadline - Date.now())
        .catch((err: Error) => logger.warn({ partition: p, err: err.message }, 'final flush failed; another worker will flush it'));
    }
  };

  let closing: Promise<void> | undefined;
  return {
    flusher: flush.flusher,
    reconcile: reconcile.reconcile,
    metrics,
    metricsUrl: metricsServer?.url,
    async enqueue(name, data = {}) {
      const kind = byName.get(name);
      if (!kind) throw new Error(`unknown job "${name}"`);
      const job = await queue.add(name, data, {
        attempts: kind.attempts ?? 1,
        backoff: { type: 'exponential', delay: 1_000 },
        ...onDemandJobOptions,
      });
      return job.id!;
    },
    close: () =>
      (closing ??= (async () => {
        clearInterval(scheduleTimer);
        await scheduleCheck;
        await worker.close();
        await finalFlush();
        await heartbeat.stop();
        await thresholds.idle(); // the last batches' threshold checks still enqueue webhooks
        await queue.close();
        redis.disconnect();
        bullRedis.disconnect();
        await pool.end();
        await metricsServer?.close();
      })()),
  };
}
