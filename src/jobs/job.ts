import type { Queue } from 'bullmq';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { Env } from '../config/env.js';
import type { Policy } from '../config/policy.js';
import type { Clock } from '../lib/clock.js';
import type { WorkerMetrics } from '../observability/worker-metrics.js';
import type { QuotaEngine } from '../quota/engine.js';
import type { KeySchema } from '../redis/keys.js';
import type { RedisClient } from '../redis/client.js';
import type { Scripts } from '../redis/scripts/registry.js';

/** What every job of the worker may use; built once per worker process. */
export interface WorkerContext {
  env: Env;
  policy: Policy;
  /** A client that fails fast (not BullMQ's); shares the gateway's key schema. */
  redis: RedisClient;
  /** The scripts, registered on `redis`: the engine's and the ledger jobs' alike. */
  scripts: Scripts;
  keys: KeySchema;
  pool: Pool;
  engine: QuotaEngine;
  /** The queue, to add jobs on demand (e.g. a webhook delivery, a manual reconciliation). */
  queue: Queue<JobData>;
  metrics: WorkerMetrics;
  logger: Logger;
  clock: Clock;
}

export type JobData = Record<string, unknown>;

/** A repeating run of a job (a BullMQ job scheduler). */
export interface Schedule {
  /** Unique per scheduler, e.g. `flush:3`. */
  id: string;
  job: string;
  everyMs: number;
  data?: JobData;
}

/** A kind of job: its handler, and the schedules that run it. */
export interface JobKind {
  name: string;
  run(data: JobData): Promise<unknown>;
  schedules: Schedule[];
  /** BullMQ retry policy for jobs added on demand (default: one attempt). */
  attempts?: number;
}
