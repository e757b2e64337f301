import type { PoolClient } from 'pg';
import type { AuditActor } from '../audit/audit-log.js';
import type { LedgerEvent } from './ledger-event.js';

/**
 * The audit entries carried by audited events (src/audit/audited-events.ts): filed by the
 * ledger writer in the transaction that inserts the events, so an entry commits exactly
 * when its change reaches the ledger.
 */
function auditOf(e: LedgerEvent): (AuditActor & { action: string }) | null {
  const { audit, actor, reason } = e.context;
  if (typeof audit !== 'string' || typeof actor !== 'string') return null;
  return { action: audit, actor, reason: typeof reason === 'string' ? reason : null };
}

/** Inserts the audit entries of the audited events among `fresh` (events new to the ledger). */
export async function recordAudit(client: PoolClient, fresh: readonly LedgerEvent[]): Promise<void> {
  const rows = fresh.flatMap((e) => {
    const audit = auditOf(e);
    if (!audit) return [];
    const details = {
      metric: e.metric,
      kind: e.kind,
      delta: e.delta,
      value_after: e.valueAfter,
      period_start: e.periodStart === null ? null : new Date(e.periodStart).toISOString(),
      ...e.extra,
    };
    return [{ e, audit, details }];
  });
  if (rows.length === 0) return;
  await client.query(
    `INSERT INTO audit_log (at, actor, action, subject_id, reason, details, event_id)
     SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[], $7::text[])
     ON CONFLICT (event_id) WHERE event_id IS NOT NULL DO NOTHING`,
    [
      rows.map((r) => new Date(r.e.occurredAt).toISOString()),
      rows.map((r) => r.audit.actor),
      rows.map((r) => r.audit.action),
      rows.map((r) => r.e.subjectId),
      rows.map((r) => r.audit.reason),
      rows.map((r) => JSON.stringify(r.details)),
      rows.map((r) => r.e.id),
    ],
  );
}
