import { ProblemError } from '../http/problem.js';

/**
 * Keyset pagination: a page ends with an opaque cursor holding the sort key of its last
 * row; the next page starts strictly after it. Unlike offsets, rows added meanwhile never
 * shift a page, and every page costs one index range scan.
 */
export const encodeCursor = (key: readonly (string | number)[]): string => Buffer.from(JSON.stringify(key)).toString('base64url');

/** The sort key inside `cursor`, checked against the types expected; a bad cursor is a 400 naming it. */
export function decodeCursor<T extends readonly ('string' | 'number')[]>(cursor: string | undefined, types: T): (string | number)[] | undefined {
  if (cursor === undefined) return undefined;
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString());
  } catch {
    key = undefined;
  }
  if (!Array.isArray(key) || key.length !== types.length || key.some((v, i) => typeof v !== types[i])) {
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
