import { ProblemError } from '../http/problem.js';
import { isStorableText } from '../lib/storable-text.js';

/**
 * Keyset pagination: a page ends with an opaque cursor holding the sort key of its last
 * row; the next page starts strictly after it. Unlike offsets, rows added meanwhile never
 * shift a page, and every page costs one index range scan.
 */
export const encodeCursor = (key: readonly (string | number)[]): string => Buffer.from(JSON.stringify(key)).toString('base64url');

/**
 * What each part of a sort key may be: `text` (a string Postgres can store), `id` (a
 * bigserial: a whole number ≥ 0), `timestamp` (an instant as toISOString writes it).
 */
export type CursorPart = 'text' | 'id' | 'timestamp';

const valid: Record<CursorPart, (v: unknown) => boolean> = {
  text: (v) => typeof v === 'string' && isStorableText(v),
  id: (v) => Number.isSafeInteger(v) && (v as number) >= 0,
  timestamp: (v) => typeof v === 'string' && !Number.isNaN(Date.parse(v)) && new Date(v).toISOString() === v,
};

/**
 * The sort key inside `cursor`, each part checked against what the query expects (a cursor
 * is client input: a part Postgres would refuse must be a 400, never a failed query).
 */
export function decodeCursor(cursor: string | undefined, parts: readonly CursorPart[]): (string | number)[] | undefined {
  if (cursor === undefined) return undefined;
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString());
  } catch {
    key = undefined;
  }
  if (!Array.isArray(key) || key.length !== parts.length || key.some((v, i) => !valid[parts[i]!](v))) {
    throw new ProblemError('invalid_request', 'cursor is not a cursor this API returned', { field: 'cursor' });
  }
  return key as (string | number)[];
}

/** A page of `limit` rows, fetched as limit + 1 to know whether another page follows. */
export function page<R>(rows: R[], limit: number, keyOf: (row: R) => (string | number)[]): { items: R[]; next_cursor: string | null } {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items, next_cursor: rows.length > limit && last ? encodeCursor(keyOf(last)) : null };
}
