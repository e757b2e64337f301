import type { KeySchema } from '../keys.js';
import type { GrantValue } from './grants-hash.js';
import type { ScriptCall } from './registry.js';
import { decodeValues, type ValuesReply } from './reply.js';

/** lua/grant.lua (see its header): `{1, balance}` granted, `{11, balance}` already there. */
export function grantCall(
  keys: KeySchema,
  request: { now: number; subjectId: string; eventId: string; metric: string; grant: GrantValue; context: string },
): ScriptCall<ValuesReply> {
  const { subjectId, grant } = request;
  return {
    script: 'grant',
    keys: [keys.outbox(keys.partitionOf(subjectId)), keys.grants(subjectId, request.metric)],
    args: [request.now, subjectId, request.eventId, request.metric, grant.id, grant.remaining, grant.expiresAt ?? 0, request.context],
    decode: (raw) => decodeValues('grant', raw),
  };
}
