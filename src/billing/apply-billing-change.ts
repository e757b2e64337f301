import type { PoolClient } from 'pg';
import { defaultPlanName, type Policy } from '../config/policy.js';
import { isoOrNull } from '../lib/iso-time.js';
import { periodAt } from '../lib/period.js';
import type { QuotaEngine } from '../quota/engine.js';
import type { DowngradeBlocker } from '../subjects/downgrade.js';
import { changeSubjectIn } from '../subjects/plan-change.js';
import type { SubjectRecord } from '../subjects/subject.js';
import type { SubjectStore } from '../subjects/subject-store.js';
import type { BillingChange, Provider } from './billing-change.js';
import { customerLinks } from './customer-links.js';
import { decide } from './billing-decision.js';
import type { SubscriptionState } from './subscription-state.js';
import { subscriptionStore } from './subscription-store.js';
import type { UnmatchedReason } from './unmatched-events.js';

type Brief = { metric: string; message: string };

/**
 * What an event did, as answered to the provider and stored with the event id:
 * applied (the subject's plan or period changed), unchanged (it already reflected the
 * event), stale (the event is older than what the subscription already reflects, so it
 * changed nothing), blocked (a downgrade below a gauge's level, refused and audited; a
 * renewal in the same event still applied) or ignored (not an event that moves quota).
 */
export type BillingResult =
  | {
      status: 'applied' | 'unchanged' | 'stale' | 'blocked';
      subject: string;
      subscription: string;
      plan: string;
      anchor: string | null;
      /** The subject's current quota period, after the event. */
      period_start: string;
      requested_plan?: string;
      blockers?: Brief[];
      /** Gauges a cancellation left above the default plan (never refused). */
      forced?: Brief[];
      /** Why parts of the event changed nothing. */
      notes: string[];
    }
  | { status: 'ignored'; reason: string };

/** No subject for the event: the provider is told to retry, and the operator is told why. */
export interface Unmatched {
  reason: UnmatchedReason;
  subject: string | null;
  customer: string | null;
  field: string;
}

export interface BillingDeps {
  engine: QuotaEngine;
  subjects: SubjectStore;
  policy: Policy;
}

const WHO = 'billing-webhook';
const brief = (list: DowngradeBlocker[]): Brief[] => list.map(({ metric, message }) => ({ metric, message }));

/** The subject the event is for: the one it names, else its subscription's, else its customer's link. */
async function subjectIdOf(db: PoolClient, provider: Provider, change: BillingChange, known: SubscriptionState | null): Promise<string | Unmatched> {
  if (change.subject !== undefined) return change.subject;
  if (known) return known.subject;
  const linked = change.customer === undefined ? null : await customerLinks.subjectOf(db, provider, change.customer);
  return linked ?? { reason: 'unknown_customer', subject: null, customer: change.customer ?? null, field: change.fields.customer ?? change.fields.subject };
}

/**
 * Applies one translated provider event inside the transaction that records its event id
 * (so it applies once): finds the subject, advances the subscription's state (older parts
 * of the event change nothing), and moves the subject to what its subscriptions now say —
 * a newer period of the subscription it follows starts a new quota period (anchor), a new
 * plan follows the downgrade rule, and no live subscription left means the default plan,
 * never refused. Each subject change is audited in the same transaction.
 */
export async function applyBillingChange(
  db: PoolClient,
  deps: BillingDeps,
  provider: Provider,
  eventId: string,
  change: BillingChange,
  now: number,
): Promise<{ result: BillingResult; changed: boolean } | { unmatched: Unmatched }> {
  const subjectId = await subjectIdOf(db, provider, change, await subscriptionStore.get(db, provider, change.subscription));
  if (typeof subjectId !== 'string') return { unmatched: subjectId };
  // Every change of one subject takes turns on its row; the subscription is read again (and
  // locked) only then, so an event that waited its turn sees what the one before it wrote.
  const subject = await deps.subjects.lock(subjectId, db);
  if (!subject) {
    const field = change.subject !== undefined ? change.fields.subject : (change.fields.customer ?? change.fields.subject);
    return { unmatched: { reason: 'unknown_subject', subject: subjectId, customer: change.customer ?? null, field } };
  }
  const known = await subscriptionStore.get(db, provider, change.subscription, { lock: true });

  const before = await subscriptionStore.ofSubject(db, subject.id);
  const { step, anchor, plan, notes } = decide({ provider, eventId, change, known, subject, before, defaultPlan: defaultPlanName(deps.policy), now });
  if (step.state || step.period) await subscriptionStore.save(db, step.after);

  let latest: SubjectRecord = subject;
  let blocked: { plan: string; blockers: DowngradeBlocker[] } | undefined;
  let forced: DowngradeBlocker[] = [];
  const reason = `${provider} event ${eventId}`;
  if (anchor !== undefined) {
    const moved = await changeSubjectIn(db, deps, subject.id, { anchor }, { actor: WHO, reason, action: 'billing.renewed' });
    if (moved.outcome === 'changed') latest = moved.subject;
  }
  if (plan) {
    const action = plan.ended ? 'billing.canceled' : 'billing.plan_changed';
    // A subject whose subscriptions ended goes back to the default plan even above its gauges (nobody pays for more).
    const outcome = await changeSubjectIn(db, deps, subject.id, { plan: plan.plan, force: plan.ended }, { actor: WHO, reason, action, recordRefusal: true });
    if (outcome.outcome === 'changed') {
      latest = outcome.subject;
      forced = outcome.blockers;
    } else if (outcome.outcome === 'blocked') blocked = { plan: plan.plan, blockers: outcome.blockers };
  }

  const changed = latest.plan !== subject.plan || latest.anchor !== subject.anchor;
  const status = blocked ? 'blocked' : changed ? 'applied' : step.state ? 'unchanged' : 'stale';
  return {
    changed,
    result: {
      status,
      subject: subject.id,
      subscription: change.subscription,
      plan: latest.plan,
      anchor: isoOrNull(latest.anchor),
      period_start: isoOrNull(periodAt(now, latest.anchor).start)!,
      ...(blocked && { requested_plan: blocked.plan, blockers: brief(blocked.blockers) }),
      ...(forced.length > 0 && { forced: brief(forced) }),
      notes,
    },
  };
}
