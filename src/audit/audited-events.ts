import type { AuditActor } from './audit-log.js';

/**
 * Admin changes that live in Redis (reset, grant, grant revoke, adjust) cannot share a
 * transaction with Postgres at the moment they happen. Their events carry the audit entry
 * in their context instead — `audit` (the action), `actor` and `reason`, the members the
 * ledger writer also files grants under — and the ledger writer files the entry
 * (src/ledger/audit-entries.ts) in the transaction that inserts those events: the audit
 * entry commits exactly when the change reaches the ledger, once per event (a redelivered
 * event is not new, so not audited again).
 */
export interface AuditedContext {
  audit: string;
  actor: string;
  reason: string | null;
}

/** The context an audited engine call passes along with its events. */
export const auditedContext = (action: string, who: AuditActor, extra: Record<string, unknown> = {}): Record<string, unknown> & AuditedContext => ({
  ...extra,
  audit: action,
  actor: who.actor,
  reason: who.reason,
});
