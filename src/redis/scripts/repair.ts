import type { ScriptCall } from './registry.js';
import { decodeValues, type ValuesReply } from './reply.js';

/** lua/repair.lua (see its header): adds `units` to a usage key that exists; `{9}` when it is missing. */
export function repairCall(usageKey: string, units: number): ScriptCall<ValuesReply> {
  return { script: 'repair', keys: [usageKey], args: [units], decode: (raw) => decodeValues('repair', raw) };
}
