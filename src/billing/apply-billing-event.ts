import type { PoolClient } from 'pg';
import { defaultPlanName, type Policy } from '../config/policy.js';
import type { QuotaEngine } from '../quota/engine.js';
import { changeSubjectIn, type ChangeOutcome } from '../subjects/plan-change.js';
import type { SubjectChange, SubjectStore } from '../subjects/subject-store.js';
import { billingDataSchemas, type HandledType } from './billing-event.js';

export type BillingResult =
  | { status: 'applied'; subject: string; plan: string; anchor: string | null; forced?: { metric: string; message: string }[] }
  | { status: 'blocked'; subject: string; plan: string; blockers: { metric: string; message: string }[] }
  | { status: 'unknown_subject'; subject: string }
  | { status: 'ignored'; reason: string };

const WHO = { actor: 'billing-webhook', reason: null };

/**
 * What a billing event changes, inside the transaction that records the event id (so the
 * event is applied exactly once): renewed → a new anchor, so counters start the new period
 * at 0 while gauges stay; plan_changed → the downgrade rule applies, and a refused
 * downgrade is recorded, not half-applied; canceled → the default plan. A cancellation
 * is never refused (nobody pays for the old plan any more): gauges above the default plan
 * stay, new ones are denied.
 */
export async function applyBillingEvent(
  db: PoolClient,
  deps: { engine: QuotaEngine; subjects: SubjectStore; policy: Policy },
  type: HandledType,
  rawData: Record<string, unknown>,
  eventId: string,
  now: number,
): Promise<{ result: BillingResult; changed: boolean }> {
  const data = billingDataSchemas[type].parse(rawData) as { subject_id: string; plan?: string; period_start?: string };
  if (data.plan !== undefined && !(data.plan in deps.policy.plans)) {
    return { result: { status: 'ignored', reason: `plan "${data.plan}" is not in the policy` }, changed: false };
  }
  let change: SubjectChange & { force?: boolean };
  switch (type) {
    case 'subscription.renewed':
      change = { anchor: data.period_start === undefined ? now : Date.parse(data.period_start), ...(data.plan !== undefined && { plan: data.plan }) };
      break;
    case 'subscription.plan_changed':
      change = { plan: data.plan! };
      break;
    case 'subscription.canceled':
      change = { plan: defaultPlanName(deps.policy), force: true };
      break;
  }
  const action = `billing.${type.slice('subscription.'.length)}`;
  const outcome: ChangeOutcome = await changeSubjectIn(db, deps, data.subject_id, change, { ...WHO, reason: `billing event ${eventId}`, action, recordRefusal: true });
  const brief = (list: { metric: string; message: string }[]) => list.map(({ metric, message }) => ({ metric, message }));
  switch (outcome.outcome) {
    case 'not_found':
      return { result: { status: 'unknown_subject', subject: data.subject_id }, changed: false };
    case 'blocked':
      return { result: { status: 'blocked', subject: data.subject_id, plan: change.plan!, blockers: brief(outcome.blockers) }, changed: false };
    case 'changed': {
      const { subject, previous } = outcome;
      const forced = brief(outcome.blockers);
      return {
        result: {
          status: 'applied',
          subject: subject.id,
          plan: subject.plan,
          anchor: subject.anchor === null ? null : new Date(subject.anchor).toISOString(),
          ...(forced.length > 0 && { forced }),
        },
        changed: previous.plan !== subject.plan || previous.anchor !== subject.anchor,
      };
    }
  }
}
