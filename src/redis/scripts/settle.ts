import type { KeySchema } from '../keys.js';
import { decodeHoldEnd, holdEndKeys, type HoldAddress, type HoldEndReply } from './hold-record.js';
import type { ScriptCall } from './registry.js';

export interface SettleRequest {
  now: number;
  /** Event ids are `<eventId>:<n>`. */
  eventId: string;
  hold: HoldAddress;
  /** Per hold line, in hold order: the actual amount (undefined = keep the held amount) and the line's limit (null = unlimited). */
  lines: readonly { actual: number | undefined; limit: number | null }[];
  idempotencyTtlMs: number;
  /** Stored with the idempotency record for replays; '' = none. */
  response: string;
}

/** lua/settle.lua (see its header). */
export function settleCall(keys: KeySchema, request: SettleRequest): ScriptCall<HoldEndReply> {
  const wire = {
    now: request.now,
    subject: request.hold.subjectId,
    event_id: request.eventId,
    hold: request.hold.id,
    idem_ttl: request.idempotencyTtlMs,
    lines: request.lines.map((l) => ({ actual: l.actual, limit: l.limit ?? -1 })),
  };
  return {
    script: 'settle',
    keys: holdEndKeys(keys, request.hold),
    args: [JSON.stringify(wire), request.response],
    decode: decodeSettle,
  };
}

const decodeSettle = (raw: unknown): HoldEndReply => decodeHoldEnd('settle', raw);
