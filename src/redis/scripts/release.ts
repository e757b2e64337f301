import type { KeySchema } from '../keys.js';
import type { ScriptCall } from './registry.js';
import { decodeValues, type ValuesReply } from './reply.js';

export interface ReleaseRequest {
  now: number;
  subjectId: string;
  eventId: string;
  /** A gauge metric. */
  metric: string;
  amount: number;
  /** Event context (JSON). */
  context: string;
  idempotency: { key: string; fingerprint: string; ttlMs: number } | null;
}

/** lua/release.lua (see its header): lowers a gauge, `{1, level_after, released}`. */
export function releaseCall(keys: KeySchema, request: ReleaseRequest): ScriptCall<ValuesReply> {
  const { subjectId, idempotency } = request;
  return {
    script: 'release',
    keys: [keys.outbox(keys.partitionOf(subjectId)), keys.gauge(subjectId, request.metric), keys.idempotency(subjectId, idempotency?.key ?? '-')],
    args: [request.now, subjectId, request.eventId, request.metric, request.amount, request.context, idempotency?.fingerprint ?? '', idempotency?.ttlMs ?? 0],
    decode: (raw) => decodeValues('release', raw),
  };
}
