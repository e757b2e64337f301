import type { KeySchema } from '../keys.js';
import type { HoldLine } from './hold-record.js';
import type { ScriptCall } from './registry.js';
import { decodeValues, type ValuesReply } from './reply.js';

/** What lua/refund.lua needs to give back a charge consume took outright (with a refund TTL). */
export interface RefundRequest {
  now: number;
  subjectId: string;
  /** The consume's request id: its refund record, and the base of the refund's event ids. */
  requestId: string;
  /** Every line charged, in the consume's order and the period it was charged in. */
  lines: readonly HoldLine[];
  /** How long the refund record lives once refunded (the consume's refund TTL). */
  ttlMs: number;
  /** The consume's event context (JSON). */
  context: string;
}

/** lua/refund.lua (see its header). */
export function refundCall(keys: KeySchema, request: RefundRequest): ScriptCall<ValuesReply> {
  const { subjectId, requestId } = request;
  const lineKeys: string[] = [];
  for (const l of request.lines) lineKeys.push(keys.usage(subjectId, l.metric, l.kind, l.periodStart ?? 0), keys.grants(subjectId, l.metric));
  const wire = {
    now: request.now,
    subject: subjectId,
    id: requestId,
    ttl: request.ttlMs,
    lines: request.lines.map((l) => ({ metric: l.metric, period: l.periodStart === null ? '' : String(l.periodStart), amount: l.amount })),
  };
  return {
    script: 'refund',
    keys: [keys.outbox(keys.partitionOf(subjectId)), keys.refund(subjectId, requestId), ...lineKeys],
    args: [JSON.stringify(wire), request.context],
    decode: (raw) => decodeValues('refund', raw),
  };
}
