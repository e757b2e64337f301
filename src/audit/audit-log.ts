import type { Queryable } from '../db/transaction.js';

/** Who changed something and why; carried by an admin change and by the events it causes. */
export interface AuditActor {
  /** "admin", "billing-webhook", "cli", … plus whatever names the person or system. */
  actor: string;
  reason: string | null;
}

export interface AuditEntry extends AuditActor {
  action: string;
  subjectId: string | null;
  details: Record<string, unknown>;
}

/**
 * Writes one audit entry with the client of the transaction that makes the change, so
 * the change and its record commit together or not at all.
 */
export async function writeAudit(db: Queryable, entry: AuditEntry): Promise<number> {
  const { rows } = await db.query<{ id: string }>(`INSERT INTO audit_log (actor, action, subject_id, reason, details) VALUES ($1, $2, $3, $4, $5) RETURNING id`, [
    entry.actor,
    entry.action,
    entry.subjectId,
    entry.reason,
    JSON.stringify(entry.details),
  ]);
  return Number(rows[0]!.id);
}
