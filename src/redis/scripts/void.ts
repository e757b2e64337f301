import type { KeySchema } from '../keys.js';
import type { ConsumeRequest } from './consume.js';
import type { ScriptCall } from './registry.js';
import { array, missing, ReplyCode, ScriptReplyError, type Missing } from './reply.js';

export type VoidReply = { code: typeof ReplyCode.Ok | typeof ReplyCode.NotApplied | typeof ReplyCode.NotFound } | Missing;

/**
 * lua/void.lua (see its header): gives back whatever the consume `request` applied, or
 * makes sure it never will. Built from the consume's own request, so its KEYS are the
 * ones that consume touched.
 */
export function voidCall(keys: KeySchema, request: ConsumeRequest, now: number, ttlMs: number): ScriptCall<VoidReply> {
  const { subjectId, requestId } = request;
  const partition = keys.partitionOf(subjectId);
  const unused = keys.unused(partition);
  const held = request.holdTtlMs > 0;
  const callKeys = [
    keys.outbox(partition),
    held ? keys.holdDeadlines(partition) : unused,
    held ? keys.hold(subjectId, requestId) : unused,
    request.concurrency > 0 ? keys.concurrency(subjectId) : unused,
    request.idempotency ? keys.idempotency(subjectId, request.idempotency.key) : unused,
  ];
  for (const l of request.lines) callKeys.push(keys.usage(subjectId, l.metric, l.kind, l.periodStart ?? 0), keys.grants(subjectId, l.metric));
  callKeys.push(keys.refund(subjectId, requestId));
  const wire = {
    now,
    subject: subjectId,
    id: requestId,
    ttl: ttlMs,
    lines: request.lines.map((l) => ({ metric: l.metric, period: l.periodStart === null ? '' : String(l.periodStart), amount: l.amount, held: l.held || undefined })),
  };
  return { script: 'void', keys: callKeys, args: [JSON.stringify(wire), request.context], decode: decodeVoid };
}

function decodeVoid(raw: unknown): VoidReply {
  const reply = array('void', raw, 1);
  const code = reply[0];
  switch (code) {
    case ReplyCode.Ok:
    case ReplyCode.NotApplied:
    case ReplyCode.NotFound:
      return { code };
    case ReplyCode.NeedsHydration:
      return missing('void', reply);
    default:
      throw new ScriptReplyError('void', `unknown code ${String(code)}`, raw);
  }
}
