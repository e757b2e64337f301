/**
 * One ledger event as the Lua scripts write it to an outbox stream (lua/includes/outbox.lua):
 * fields id, k, s, m, p, d, v, t, x, c.
 */
export interface LedgerEvent {
  /** `<request or call id>:<n>`: unique, and the same on every redelivery. */
  id: string;
  kind: string;
  subjectId: string;
  metric: string;
  /** Period start (ms) for counter events; null for gauges and grants. */
  periodStart: number | null;
  delta: number;
  /** The counter (or gauge level, or grant balance) right after the event. */
  valueAfter: number;
  /** When the script ran, ms. */
  occurredAt: number;
  extra: Record<string, unknown>;
  context: Record<string, unknown>;
  /** The Redis stream entry that carried it. */
  streamId: string;
}

/** Kinds that move usage; `denied`, `grant` and `grant_revoke` record without moving it. */
export const USAGE_KINDS = new Set(['consume', 'settle', 'refund', 'release', 'expire', 'reset', 'adjust']);

/** A stream entry that is not an event of ours: kept out of the ledger, reported, then dropped. */
export class MalformedEntryError extends Error {
  override name = 'MalformedEntryError';
}

const INTEGER = /^-?\d+$/;

function object(text: string | undefined, field: string, streamId: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text ?? '');
  } catch {
    throw new MalformedEntryError(`outbox entry ${streamId}: field ${field} is not JSON`);
  }
  // cjson encodes an empty Lua table as {} or [] alike.
  if (Array.isArray(value) && value.length === 0) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new MalformedEntryError(`outbox entry ${streamId}: field ${field} is not an object`);
  return value as Record<string, unknown>;
}

function integer(text: string | undefined, field: string, streamId: string): number {
  if (text === undefined || !INTEGER.test(text)) throw new MalformedEntryError(`outbox entry ${streamId}: field ${field} is not an integer`);
  return Number(text);
}

/** Decodes one stream entry's flat [field, value, ...] list. */
export function decodeLedgerEvent(streamId: string, flat: readonly string[]): LedgerEvent {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) f[flat[i]!] = flat[i + 1]!;
  if (!f.id || !f.k || !f.s || !f.m) throw new MalformedEntryError(`outbox entry ${streamId}: id, k, s and m are required`);
  return {
    id: f.id,
    kind: f.k,
    subjectId: f.s,
    metric: f.m,
    periodStart: f.p ? integer(f.p, 'p', streamId) : null,
    delta: integer(f.d, 'd', streamId),
    valueAfter: integer(f.v, 'v', streamId),
    occurredAt: integer(f.t, 't', streamId),
    extra: object(f.x, 'x', streamId),
    context: object(f.c, 'c', streamId),
    streamId,
  };
}

/** `[[grant id, units], ...]` from an event's draws or restored list (absent or {} = none). */
export function grantMoves(value: unknown): [string, number][] {
  if (!Array.isArray(value)) return [];
  return value.filter((m): m is [string, number] => Array.isArray(m) && typeof m[0] === 'string' && Number.isSafeInteger(m[1]));
}
