/**
 * One ledger event as the Lua scripts write it to an outbox stream (lua/includes/outbox.lua):
 * one entry per event, its one field `e` a JSON object with members id, k, s, m, p, d, v, t, x, c.
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
/** Every kind usage_events accepts (its CHECK): any other would fail the whole batch's insert. */
const KINDS = new Set([...USAGE_KINDS, 'grant', 'grant_revoke', 'denied']);

/** A stream entry that is not an event of ours: kept out of the ledger, reported, then dropped. */
export class MalformedEntryError extends Error {
  override name = 'MalformedEntryError';
}

/** The outbox entry's one field: the event as JSON. */
export const EVENT_FIELD = 'e';

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const isText = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
const isInteger = (v: unknown): v is number => Number.isSafeInteger(v);

/** extra or context: an object; cjson encodes an empty Lua table as {} or [] alike. */
function object(value: unknown, member: string, streamId: string): Record<string, unknown> {
  if (Array.isArray(value) && value.length === 0) return {};
  if (!isObject(value)) throw new MalformedEntryError(`outbox entry ${streamId}: ${member} is not an object`);
  return value;
}

/** Decodes one stream entry's flat [field, value, ...] list: exactly the field `e`, holding an event. */
export function decodeLedgerEvent(streamId: string, flat: readonly string[]): LedgerEvent {
  if (flat.length !== 2 || flat[0] !== EVENT_FIELD) throw new MalformedEntryError(`outbox entry ${streamId}: not the one field "${EVENT_FIELD}"`);
  let e: unknown;
  try {
    e = JSON.parse(flat[1]!);
  } catch {
    throw new MalformedEntryError(`outbox entry ${streamId}: not JSON`);
  }
  if (!isObject(e)) throw new MalformedEntryError(`outbox entry ${streamId}: not a JSON object`);
  const { id, k, s, m, p, d, v, t } = e;
  if (!isText(id) || !isText(k) || !isText(s) || !isText(m)) throw new MalformedEntryError(`outbox entry ${streamId}: id, k, s and m must be non-empty strings`);
  if (!KINDS.has(k)) throw new MalformedEntryError(`outbox entry ${streamId}: unknown kind "${k}"`);
  if (!(p === null || isInteger(p)) || !isInteger(d) || !isInteger(v) || !isInteger(t))
    throw new MalformedEntryError(`outbox entry ${streamId}: p, d, v and t must be integers (p may be null)`);
  return {
    id,
    kind: k,
    subjectId: s,
    metric: m,
    periodStart: p,
    delta: d,
    valueAfter: v,
    occurredAt: t,
    extra: object(e.x, 'x', streamId),
    context: object(e.c, 'c', streamId),
    streamId,
  };
}

/** `[[grant id, units], ...]` from an event's draws or restored list (absent or {} = none). */
export function grantMoves(value: unknown): [string, number][] {
  if (!Array.isArray(value)) return [];
  return value.filter((m): m is [string, number] => Array.isArray(m) && typeof m[0] === 'string' && Number.isSafeInteger(m[1]));
}
