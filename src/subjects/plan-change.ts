import type { Pool, PoolClient } from 'pg';
import { writeAudit, type AuditActor } from '../audit/audit-log.js';
import { inTransaction } from '../db/transaction.js';
import type { QuotaEngine } from '../quota/engine.js';
import { downgradeBlockers, type DowngradeBlocker } from './downgrade.js';
import type { SubjectRecord } from './subject.js';
import { subjectRef } from './subject-ref.js';
import type { SubjectChange, SubjectStore } from './subject-store.js';
import { isoOrNull } from '../lib/iso-time.js';

/** Tells every gateway a subject changed, so cached API keys drop its old plan (src/auth/auth-invalidation.ts). */
export interface SubjectChangeNotice {
  publish(subjectId: string): Promise<unknown>;
}

export interface SubjectChanges {
  pool: Pool;
  subjects: SubjectStore;
  engine: QuotaEngine;
  invalidation: SubjectChangeNotice;
}

export type ChangeOutcome =
  /** `blockers`: what a forced change went past (empty unless forced). */
  | { outcome: 'changed'; subject: SubjectRecord; previous: SubjectRecord; blockers: DowngradeBlocker[]; auditId: number }
  | { outcome: 'blocked'; subject: SubjectRecord; blockers: DowngradeBlocker[]; auditId: number | null }
  | { outcome: 'not_found' };

/**
 * Changes a subject's plan, anchor or overrides — from the admin API and from billing
 * webhooks alike — with the downgrade rule (SPEC invariant 11) and an audit entry in the
 * same transaction. The subject's row stays locked from the check to the commit, so two
 * changes of one subject take turns. Gateways drop their cached copy of the subject once
 * it has committed.
 *
 * A refused downgrade changes nothing; with `recordRefusal` the refusal itself is audited
 * (billing asked for it, and someone must hear about it).
 */
export async function changeSubject(
  deps: SubjectChanges,
  id: string,
  change: SubjectChange & { force?: boolean },
  who: AuditActor & { action: string; recordRefusal?: boolean },
): Promise<ChangeOutcome> {
  const result = await inTransaction(deps.pool, (db) => changeSubjectIn(db, deps, id, change, who));
  if (result.outcome === 'changed') await deps.invalidation.publish(id);
  return result;
}

/**
 * changeSubject inside the caller's transaction (a billing webhook records its event id in
 * the same one); the caller publishes the invalidation once it has committed.
 */
export async function changeSubjectIn(
  db: PoolClient,
  deps: Omit<SubjectChanges, 'pool' | 'invalidation'>,
  id: string,
  change: SubjectChange & { force?: boolean },
  who: AuditActor & { action: string; recordRefusal?: boolean },
): Promise<ChangeOutcome> {
  const previous = await deps.subjects.lock(id, db);
  if (!previous) return { outcome: 'not_found' };
  const next = {
    ...previous,
    plan: change.plan ?? previous.plan,
    anchor: change.anchor === undefined ? previous.anchor : change.anchor,
    overrides: change.overrides ?? previous.overrides,
  };
  // Only a change of limits can be a downgrade: moving the anchor alone (a renewal) is never
  // refused, even for a subject already above its plan (after a forced downgrade). Gauge levels
  // are read from the engine, which rebuilds them from the ledger if Redis lost them.
  const limitsChange = next.plan !== previous.plan || change.overrides !== undefined;
  const blockers = limitsChange ? downgradeBlockers(deps.engine.policy, subjectRef(next), await deps.engine.usage(subjectRef(previous))) : [];
  const details = { from: { plan: previous.plan, anchor: isoOrNull(previous.anchor) }, to: { plan: next.plan, anchor: isoOrNull(next.anchor) } };
  if (blockers.length > 0 && !change.force) {
    const auditId = who.recordRefusal ? await writeAudit(db, { ...who, action: `${who.action}.blocked`, subjectId: id, details: { ...details, blockers } }) : null;
    return { outcome: 'blocked', subject: previous, blockers, auditId };
  }
  const subject = await deps.subjects.update(id, change, db);
  const auditId = await writeAudit(db, {
    ...who,
    subjectId: id,
    details: { ...details, ...(blockers.length > 0 ? { forced: true, blockers } : {}) },
  });
  return { outcome: 'changed', subject, previous, blockers, auditId };
}
