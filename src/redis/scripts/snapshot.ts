import type { ScriptCall } from './registry.js';
import { array, ints, ReplyCode, ScriptReplyError } from './reply.js';

export interface Snapshot {
  /** The outbox's last generated entry id when the values were read ('0-0': no stream). */
  watermark: string;
  /** Per usage key asked for: its value, or null when missing. */
  values: (number | null)[];
}

/** lua/snapshot.lua (see its header): usage values and the outbox's watermark, read together. */
export function snapshotCall(outboxKey: string, usageKeys: readonly string[]): ScriptCall<Snapshot> {
  return { script: 'snapshot', keys: [outboxKey, ...usageKeys], args: [], decode: decodeSnapshot };
}

export function decodeSnapshot(raw: unknown): Snapshot {
  const script = 'snapshot';
  const reply = array(script, raw, 2);
  const watermark = reply[1];
  if (reply[0] !== ReplyCode.Ok || typeof watermark !== 'string' || !/^\d+-\d+$/.test(watermark)) throw new ScriptReplyError(script, 'bad header', raw);
  return { watermark, values: ints(script, reply, 2).map((v) => (v < 0 ? null : v)) };
}
