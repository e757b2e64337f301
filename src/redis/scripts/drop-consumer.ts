import type { ScriptCall } from './registry.js';
import { ScriptReplyError } from './reply.js';

/** lua/drop-consumer.lua (see its header): removes a consumer without pending entries from a group; true when removed. */
export function dropConsumerCall(outboxKey: string, group: string, consumer: string): ScriptCall<boolean> {
  return {
    script: 'drop-consumer',
    keys: [outboxKey],
    args: [group, consumer],
    decode: (raw) => {
      if (raw !== 0 && raw !== 1) throw new ScriptReplyError('drop-consumer', 'expected 0 or 1', raw);
      return raw === 1;
    },
  };
}
