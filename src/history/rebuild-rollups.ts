import type { Queryable } from '../db/transaction.js';

/**
 * Recounts usage_rollups of the hours in [from, to) (default: all of them) from the ledger,
 * with rebuild_usage_rollups() (migrations/007_usage_rollups.sql): the worker's flushes
 * wait while it runs, so nothing is counted twice or missed. Returns the rows written.
 */
export async function rebuildRollups(db: Queryable, range: { from?: number; to?: number } = {}): Promise<number> {
  const { rows } = await db.query<{ written: string }>('SELECT rebuild_usage_rollups($1, $2) AS written', [
    range.from === undefined ? '-infinity' : new Date(range.from).toISOString(),
    range.to === undefined ? 'infinity' : new Date(range.to).toISOString(),
  ]);
  return Number(rows[0]!.written);
}
