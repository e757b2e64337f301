import type { Queryable } from '../../db/transaction.js';

/** Ledger events the flusher set aside because the ledger refused them (SPEC invariant 13). */
export interface DeadLetterStatus {
  /** Parked events: not in the ledger until an operator replays them. */
  pending: number;
  /** When the oldest of them was set aside (ISO); null when none is pending. */
  oldest_at: string | null;
}

/** The overview's dead-letter line. Sanitised letters are in the ledger already and need no one. */
export async function deadLetterStatus(db: Queryable): Promise<DeadLetterStatus> {
  const { rows } = await db.query<{ pending: string; oldest: Date | null }>(
    `SELECT count(*) AS pending, min(created_at) AS oldest FROM ledger_dead_letters WHERE state = 'parked'`,
  );
  const row = rows[0]!;
  return { pending: Number(row.pending), oldest_at: row.oldest?.toISOString() ?? null };
}
