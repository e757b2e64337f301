import type { MetricKind } from '../../config/policy.js';
import type { KeySchema } from '../keys.js';
import { grantsField, type GrantValue } from './grants-hash.js';
import type { ScriptCall } from './registry.js';
import { decodeValues, type ValuesReply } from './reply.js';

export interface HydrateRequest {
  subjectId: string;
  /** Usage values loaded from the ledger, with the key's TTL on Redis's clock (0 = none). */
  usage: readonly { metric: string; kind: MetricKind; periodStart: number | null; value: number; ttlMs: number }[];
  /** Grants hashes loaded from the ledger (an empty list still marks the hash hydrated). */
  grants: readonly { metric: string; grants: readonly GrantValue[] }[];
}

/** lua/hydrate.lua (see its header): writes each key only where it is still missing. */
export function hydrateCall(keys: KeySchema, request: HydrateRequest): ScriptCall<ValuesReply> {
  const { subjectId } = request;
  return {
    script: 'hydrate',
    keys: [...request.usage.map((u) => keys.usage(subjectId, u.metric, u.kind, u.periodStart ?? 0)), ...request.grants.map((g) => keys.grants(subjectId, g.metric))],
    args: [
      JSON.stringify([
        ...request.usage.map((u) => ({ value: u.value, ttl: u.ttlMs })),
        ...request.grants.map((g) => ({ grants: Object.fromEntries(g.grants.map((grant) => [grant.id, grantsField(grant)])) })),
      ]),
    ],
    decode: (raw) => decodeValues('hydrate', raw),
  };
}
