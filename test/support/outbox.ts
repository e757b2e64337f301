import type { Redis } from 'ioredis';
import type { KeySchema } from '../../src/quota/keys.js';

export interface OutboxEvent {
  id: string;
  kind: string;
  subject: string;
  metric: string;
  period: string;
  delta: number;
  value: number;
  extra: Record<string, unknown>;
  context: Record<string, unknown>;
}

/** Outbox events of a subject (its partition's stream, filtered), oldest first, fields decoded. */
export async function readOutboxEvents(redis: Redis, keys: KeySchema, subjectId: string): Promise<OutboxEvent[]> {
  const entries = await redis.xrange(keys.outbox(keys.partitionOf(subjectId)), '-', '+');
  return entries
    .map(([, fields]) => {
      const f: Record<string, string> = {};
      for (let i = 0; i < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
      return {
        id: f.id!,
        kind: f.k!,
        subject: f.s!,
        metric: f.m!,
        period: f.p!,
        delta: Number(f.d),
        value: Number(f.v),
        extra: JSON.parse(f.x!) as Record<string, unknown>,
        context: JSON.parse(f.c!) as Record<string, unknown>,
      };
    })
    .filter((e) => e.subject === subjectId);
}

/** Sum of event deltas per metric: what the ledger will say the counter is. */
export function ledgerSums(events: OutboxEvent[]): Record<string, number> {
  const sums: Record<string, number> = {};
  for (const e of events) sums[e.metric] = (sums[e.metric] ?? 0) + e.delta;
  return sums;
}
