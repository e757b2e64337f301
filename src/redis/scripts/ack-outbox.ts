import type { ScriptCall } from './registry.js';
import { ScriptReplyError } from './reply.js';

/** lua/ack-outbox.lua (see its header): acknowledges and removes committed entries; replies how many were acknowledged. */
export function ackOutboxCall(outboxKey: string, group: string, entryIds: readonly string[]): ScriptCall<number> {
  return {
    script: 'ack-outbox',
    keys: [outboxKey],
    args: [group, ...entryIds],
    decode: (raw) => {
      if (typeof raw !== 'number') throw new ScriptReplyError('ack-outbox', 'expected an integer', raw);
      return raw;
    },
  };
}
