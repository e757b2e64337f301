import type { Queryable } from '../../db/transaction.js';

/** Ledger entries the flusher set aside because the ledger refused them (SPEC invariant 13). */
export interface DeadLetterStatus {
  /** Entries set aside and not yet resolved. */
  pending: number;
  /** When the oldest of them was set aside (ISO); null when none is pending. */
  oldest_at: string | null;
}

/**
 * The overview's dead-letter hook: the dead-letter table is added by the change that makes
 * the flusher set refused entries aside. Until it lands, this build does not track them and
 * answers null (the overview shows "not tracked"); then this reads that table.
 */
export async function deadLetterStatus(_db: Queryable): Promise<DeadLetterStatus | null> {
  return null;
}
