import { Queue } from 'bullmq';
import type { RedisClient } from '../redis/client.js';
import type { JobData } from './job.js';

/** The BullMQ queue every quotagate job runs on; braces keep its keys in one Cluster slot. */
export const QUEUE_NAME = '{jobs}';

/** BullMQ's keys sit under the deployment's key prefix, beside the quota keys. */
export const queuePrefix = (keyPrefix: string) => `${keyPrefix}:bull`;

/**
 * The job queue, for the worker and for whoever adds jobs to it (the admin API). BullMQ
 * re-emits its connection's errors on the queue and prints them raw to stderr when nobody
 * listens; the connection's own listener reports them, and a failed add fails its caller.
 */
export function jobQueue(connection: RedisClient, keyPrefix: string): Queue<JobData> {
  const queue = new Queue<JobData>(QUEUE_NAME, { connection, prefix: queuePrefix(keyPrefix) });
  queue.on('error', () => {});
  return queue;
}

/** Options of a job added on demand: kept a while so its caller can read its state and result. */
export const onDemandJobOptions = { removeOnComplete: 1_000, removeOnFail: 1_000 } as const;
