import type { RedisClient } from './client.js';
import type { KeySchema } from './keys.js';

/**
 * The outbox streams' reads and consumer-group commands (lua/includes/outbox.lua appends to
 * them; lua/ack-outbox.lua acknowledges and removes what the ledger committed). A stream id
 * is "<ms>-<seq>" of the Redis clock that added the entry.
 */

/** An entry as XREADGROUP / XAUTOCLAIM return it; fields are null for a pending entry deleted meanwhile. */
export type StreamEntry = [id: string, fields: string[] | null];

/** Creates the consumer group (and the stream) unless it exists. */
export async function createGroup(redis: RedisClient, stream: string, group: string): Promise<void> {
  try {
    await redis.xgroup('CREATE', stream, group, '0', 'MKSTREAM');
  } catch (err) {
    if (!/BUSYGROUP/.test(String((err as Error).message))) throw err;
  }
}

/** One XREADGROUP of up to `count` entries from `from` ('0' = this consumer's pending ones, '>' = new ones). */
export async function readGroup(redis: RedisClient, stream: string, group: string, consumer: string, count: number, from: '0' | '>'): Promise<StreamEntry[]> {
  const reply = (await redis.xreadgroup('GROUP', group, consumer, 'COUNT', count, 'STREAMS', stream, from)) as [string, StreamEntry[]][] | null;
  return reply?.[0]?.[1] ?? [];
}

/** One XAUTOCLAIM step: entries pending on any consumer for `idleMs` or more become `consumer`'s; `next` is '0-0' at the end. */
export async function claimIdle(
  redis: RedisClient,
  stream: string,
  group: string,
  consumer: string,
  idleMs: number,
  cursor: string,
  count: number,
): Promise<{ next: string; entries: StreamEntry[] }> {
  const [next, entries] = (await redis.xautoclaim(stream, group, consumer, idleMs, cursor, 'COUNT', count)) as [string, StreamEntry[], ...unknown[]];
  return { next, entries };
}

/** The consumers of a group (XINFO CONSUMERS): name and how many entries each has pending. */
export async function groupConsumers(redis: RedisClient, stream: string, group: string): Promise<{ name: string; pending: number }[]> {
  const reply = (await redis.xinfo('CONSUMERS', stream, group)) as (string | number)[][];
  return reply.map((fields) => {
    const info = new Map<unknown, unknown>();
    for (let i = 0; i < fields.length; i += 2) info.set(fields[i], fields[i + 1]);
    return { name: String(info.get('name')), pending: Number(info.get('pending')) };
  });
}

/** Up to `count` entries pending on `from`, made `consumer`'s at once (XPENDING for the ids, then XCLAIM whatever their idle time). */
export async function claimFrom(redis: RedisClient, stream: string, group: string, from: string, consumer: string, count: number): Promise<StreamEntry[]> {
  const pending = (await redis.xpending(stream, group, '-', '+', count, from)) as [id: string, ...unknown[]][];
  if (pending.length === 0) return [];
  return (await redis.call('XCLAIM', stream, group, consumer, 0, ...pending.map(([id]) => id))) as StreamEntry[];
}

/** True when the stream holds no entry at or below `id`. */
export async function emptyUpTo(redis: RedisClient, stream: string, id: string): Promise<boolean> {
  return (await redis.xrange(stream, '-', id, 'COUNT', 1)).length === 0;
}

/** One XREAD of several streams after their cursors, waiting up to `blockMs` for something new. */
export async function readAfter(
  redis: RedisClient,
  streams: readonly string[],
  cursors: readonly string[],
  count: number,
  blockMs: number,
): Promise<[stream: string, entries: [id: string, fields: string[]][]][]> {
  return (await redis.xread('COUNT', count, 'BLOCK', blockMs, 'STREAMS', ...streams, ...cursors)) ?? [];
}

/** Redis's clock now, in ms. */
export async function redisTimeMs(redis: RedisClient): Promise<number> {
  return timeMs(await redis.time());
}

/** A TIME reply in ms. */
const timeMs = ([seconds, micros]: readonly (string | number)[]): number => Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);

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
  const now = timeMs(replies[2]![1] as [string, string]);
  return { length, lagMs: first ? Math.max(0, now - Number(first[0].split('-')[0])) : 0 };
}
