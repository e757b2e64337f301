import type { KeySchema } from '../keys.js';
import type { ScriptCall } from './registry.js';
import { decodeValues, type ValuesReply } from './reply.js';

export interface ResetRequest {
  now: number;
  subjectId: string;
  eventId: string;
  /** Counters of the current period, with their TTL on Redis's clock. */
  counters: readonly { metric: string; periodStart: number; ttlMs: number }[];
  /** Event context (JSON). */
  context: string;
}

/** lua/reset.lua (see its header): replies `{1, previous_1, ...}`. */
export function resetCall(keys: KeySchema, request: ResetRequest): ScriptCall<ValuesReply> {
  const { subjectId } = request;
  const wire = {
    now: request.now,
    subject: subjectId,
    event_id: request.eventId,
    metrics: request.counters.map((c) => ({ name: c.metric, period: String(c.periodStart), ttl: c.ttlMs })),
  };
  return {
    script: 'reset',
    keys: [keys.outbox(keys.partitionOf(subjectId)), ...request.counters.map((c) => keys.counter(subjectId, c.metric, c.periodStart))],
    args: [JSON.stringify(wire), request.context],
    decode: (raw) => decodeValues('reset', raw),
  };
}
