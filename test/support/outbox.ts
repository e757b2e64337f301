import { decodeLedgerEvent } from '../../src/ledger/ledger-event.js';
import type { KeySchema } from '../../src/redis/keys.js';
import type { RedisClient } from '../../src/redis/client.js';

export interface OutboxEvent {
  id: string;
  kind: string;
  subject: string;
  metric: string;
  periodStart: number | null;
  delta: number;
  value: number;
  extra: Record<string, unknown>;
  context: Record<string, unknown>;
}

/** Outbox events of a subject (its partition's stream, filtered), oldest first, decoded as the flusher decodes them. */
export async function readOutboxEvents(redis: RedisClient, keys: KeySchema, subjectId: string): Promise<OutboxEvent[]> {
  const entries = await redis.xrange(keys.outbox(keys.partitionOf(subjectId)), '-', '+');
  return entries
    .map(([streamId, fields]) => {
      const e = decodeLedgerEvent(streamId, fields);
      return {
        id: e.id,
        kind: e.kind,
        subject: e.subjectId,
        metric: e.metric,
        periodStart: e.periodStart,
        delta: e.delta,
        value: e.valueAfter,
        extra: e.extra,
        context: e.context,
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
