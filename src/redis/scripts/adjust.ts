import type { MetricKind } from '../../config/policy.js';
import type { KeySchema } from '../keys.js';
import type { ScriptCall } from './registry.js';
import { decodeValues, type ValuesReply } from './reply.js';

export interface AdjustRequest {
  now: number;
  subjectId: string;
  eventId: string;
  metric: string;
  kind: MetricKind;
  /** The current period's start for a counter; null for a gauge. */
  periodStart: number | null;
  delta: number;
  /** The usage key's TTL on Redis's clock (0 = none). */
  ttlMs: number;
  context: string;
}

/** lua/adjust.lua (see its header): `{1, value_after, applied_delta}`. */
export function adjustCall(keys: KeySchema, request: AdjustRequest): ScriptCall<ValuesReply> {
  const { subjectId, periodStart } = request;
  return {
    script: 'adjust',
    keys: [keys.outbox(keys.partitionOf(subjectId)), keys.usage(subjectId, request.metric, request.kind, periodStart ?? 0)],
    args: [request.now, subjectId, request.eventId, request.metric, periodStart ?? '', request.delta, request.ttlMs, request.context],
    decode: (raw) => decodeValues('adjust', raw),
  };
}
