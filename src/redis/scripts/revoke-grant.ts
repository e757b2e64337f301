import type { KeySchema } from '../keys.js';
import type { ScriptCall } from './registry.js';
import { decodeValues, type ValuesReply } from './reply.js';

/** lua/revoke-grant.lua (see its header): `{1, remaining, balance}` or `{9}` not found. */
export function revokeGrantCall(
  keys: KeySchema,
  request: { now: number; subjectId: string; eventId: string; metric: string; grantId: string; context: string },
): ScriptCall<ValuesReply> {
  const { subjectId } = request;
  return {
    script: 'revoke-grant',
    keys: [keys.outbox(keys.partitionOf(subjectId)), keys.grants(subjectId, request.metric)],
    args: [request.now, subjectId, request.eventId, request.metric, request.grantId, request.context],
    decode: (raw) => decodeValues('revoke-grant', raw),
  };
}
