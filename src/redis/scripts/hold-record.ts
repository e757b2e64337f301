import type { MetricKind } from '../../config/policy.js';
import type { RedisClient } from '../client.js';
import type { KeySchema } from '../keys.js';
import { array, missing, pairs, ReplyCode, ScriptReplyError, type LineUsage, type Missing } from './reply.js';

/**
 * A hold as lua/consume.lua writes it (JSON, see lua/includes/hold.lua), and what the
 * scripts that end one (settle, return-hold) share: their leading KEYS and their reply.
 */

/** One held line: what a settle or return gives back or charges more of. */
export interface HoldLine {
  metric: string;
  kind: MetricKind;
  /** Period start (ms) for counters, null for gauges. */
  periodStart: number | null;
  amount: number;
}

export interface StoredHold {
  /** The idempotency key waiting on this hold, if any. */
  idempotencyKey: string | null;
  lines: HoldLine[];
}

interface WireHold {
  /** cjson writes an empty Lua table as {}, so an empty list comes back as an object. */
  l: { m: string; k: 'c' | 'g'; p: string; a: number }[] | Record<string, never>;
  i: string;
}

export function parseHold(raw: string): StoredHold {
  const stored = JSON.parse(raw) as WireHold;
  const lines = Array.isArray(stored.l) ? stored.l : [];
  return {
    idempotencyKey: stored.i === '' ? null : stored.i,
    lines: lines.map((l) => ({ metric: l.m, kind: l.k === 'c' ? 'counter' : 'gauge', periodStart: l.p === '' ? null : Number(l.p), amount: l.a })),
  };
}

/** The hold, or null once it has ended. */
export async function readHold(redis: RedisClient, keys: KeySchema, subjectId: string, holdId: string): Promise<StoredHold | null> {
  const raw = await redis.get(keys.hold(subjectId, holdId));
  return raw === null ? null : parseHold(raw);
}

/** Up to `batch` holds of a partition whose deadline is at or before `now` (the deadline index's members are `<subject>|<hold id>`). */
export async function dueHolds(redis: RedisClient, keys: KeySchema, partition: number, now: number, batch: number): Promise<{ subjectId: string; holdId: string }[]> {
  const members = await redis.zrangebyscore(keys.holdDeadlines(partition), '-inf', now, 'LIMIT', 0, batch);
  return members.map((member) => {
    const cut = member.lastIndexOf('|');
    return { subjectId: member.slice(0, cut), holdId: member.slice(cut + 1) };
  });
}

/** What addresses a hold for the scripts that end it. */
export interface HoldAddress {
  id: string;
  subjectId: string;
  idempotencyKey: string | null;
  lines: readonly Pick<HoldLine, 'metric' | 'kind' | 'periodStart'>[];
}

/** KEYS of settle and return-hold, as lua/includes/hold.lua lays them out. */
export function holdEndKeys(keys: KeySchema, hold: HoldAddress): string[] {
  const partition = keys.partitionOf(hold.subjectId);
  const out = [
    keys.outbox(partition),
    keys.holdDeadlines(partition),
    keys.hold(hold.subjectId, hold.id),
    keys.concurrency(hold.subjectId),
    keys.idempotency(hold.subjectId, hold.idempotencyKey ?? '-'),
  ];
  for (const l of hold.lines) out.push(keys.usage(hold.subjectId, l.metric, l.kind, l.periodStart ?? 0), keys.grants(hold.subjectId, l.metric));
  return out;
}

export type HoldEndReply = { code: typeof ReplyCode.Ok; lines: LineUsage[] } | Missing | { code: typeof ReplyCode.NotFound | typeof ReplyCode.NotDue };

/** The reply of lua/settle.lua and lua/return-hold.lua. */
export function decodeHoldEnd(script: 'settle' | 'return-hold', raw: unknown): HoldEndReply {
  const reply = array(script, raw, 1);
  const code = reply[0];
  switch (code) {
    case ReplyCode.Ok:
      return { code, lines: pairs(script, reply, 1) };
    case ReplyCode.NeedsHydration:
      return missing(script, reply);
    case ReplyCode.NotFound:
    case ReplyCode.NotDue:
      return { code };
    default:
      throw new ScriptReplyError(script, `unknown code ${String(code)}`, raw);
  }
}
