import type { KeySchema } from '../keys.js';
import { decodeHoldEnd, holdEndKeys, type HoldAddress, type HoldEndReply } from './hold-record.js';
import type { ScriptCall } from './registry.js';

/** Why a hold gives everything back; also the kind of the events it writes. */
export type ReturnKind = 'refund' | 'release' | 'expire';

/** lua/return-hold.lua (see its header). */
export function returnHoldCall(keys: KeySchema, request: { now: number; eventId: string; hold: HoldAddress; kind: ReturnKind }): ScriptCall<HoldEndReply> {
  const { now, eventId, hold, kind } = request;
  return {
    script: 'return-hold',
    keys: holdEndKeys(keys, hold),
    args: [now, hold.subjectId, eventId, hold.id, kind, hold.lines.length],
    decode: (raw) => decodeHoldEnd('return-hold', raw),
  };
}
