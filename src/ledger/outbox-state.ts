import type { Redis } from 'ioredis';
import type { KeySchema } from '../quota/keys.js';

/** What an outbox stream holds that is not in the ledger yet. */
export interface OutboxState {
  /** Entries in the stream (flushed entries are deleted, so all of these are unflushed). */
  length: number;
  /** Age of the oldest entry (from its stream id, in Redis time); 0 when empty. */
  lagMs: number;
}

/** Reads every partition's outbox length and lag in one round trip. */
export async function readOutboxStates(redis: Redis, keys: KeySchema, partitions: number): Promise<OutboxState[]> {
  const pipeline = redis.pipeline().time();
  for (let p = 0; p < partitions; p++) pipeline.xlen(keys.outbox(p)).xrange(keys.outbox(p), '-', '+', 'COUNT', 1);
  const replies = (await pipeline.exec()) ?? [];
  for (const [err] of replies) if (err) throw err;
  const [seconds, micros] = replies[0]![1] as [string, string];
  const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  return Array.from({ length: partitions }, (_, p) => {
    const length = replies[1 + 2 * p]![1] as number;
    const first = (replies[2 + 2 * p]![1] as [string, string[]][])[0];
    // A stream id is "<ms>-<seq>" of the Redis clock that added it.
    return { length, lagMs: first ? Math.max(0, now - Number(first[0].split('-')[0])) : 0 };
  });
}
