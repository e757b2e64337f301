import type { RedisClient } from '../redis/scripts.js';
import type { KeySchema } from '../quota/keys.js';

/** What an outbox stream holds that is not in the ledger yet. */
export interface OutboxState {
  /** Entries in the stream (flushed entries are deleted, so all of these are unflushed). */
  length: number;
  /** Age of the oldest entry (from its stream id, in Redis time); 0 when empty. */
  lagMs: number;
}

/**
 * Reads every partition's outbox length and lag. One pipeline per partition, all sent at
 * once: a Cluster pipeline must stay within one slot, and each stream's lag is measured by
 * the clock of the node that stamped its ids.
 */
export async function readOutboxStates(redis: RedisClient, keys: KeySchema, partitions: number): Promise<OutboxState[]> {
  return Promise.all(Array.from({ length: partitions }, (_, p) => readOutboxState(redis, keys.outbox(p))));
}

async function readOutboxState(redis: RedisClient, stream: string): Promise<OutboxState> {
  const replies = (await redis.pipeline().xlen(stream).xrange(stream, '-', '+', 'COUNT', 1).time().exec()) ?? [];
  for (const [err] of replies) if (err) throw err;
  const length = replies[0]![1] as number;
  const first = (replies[1]![1] as [string, string[]][])[0];
  const [seconds, micros] = replies[2]![1] as [string, string];
  const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  // A stream id is "<ms>-<seq>" of the Redis clock that added it.
  return { length, lagMs: first ? Math.max(0, now - Number(first[0].split('-')[0])) : 0 };
}
