import { isoOrNull } from '../lib/iso-time.js';
import { periodAt } from '../lib/period.js';
import type { BillingChange, Provider, SubscriptionStatus } from './billing-change.js';

/**
 * Order-safety (SPEC invariant 16): providers deliver late, twice and out of order, so each
 * subscription keeps what its newest events said, on two clocks of its own:
 * - its state (status and plan) moves only with an event at least as new as the last one
 *   applied (`stateAt`: a Stripe event's `created`, an invoice's creation, Paddle's
 *   `occurred_at`, a transaction's creation);
 * - its billing period moves only forward (`periodStart`).
 * A subject then follows its latest-started live subscription (else the default plan), and
 * a newer period of that subscription starts a new quota period. Everything here is pure;
 * billing-decision.ts applies it to a subject, apply-billing-change.ts reads and writes the rows.
 */
export interface SubscriptionState {
  provider: Provider;
  subscription: string;
  subject: string;
  customer: string | null;
  status: SubscriptionStatus;
  plan: string | null;
  prices: string[];
  periodStart: number | null;
  periodEnd: number | null;
  startedAt: number | null;
  stateAt: number;
  lastEventId: string;
}

export interface Advance {
  after: SubscriptionState;
  /** The event's status and plan were taken: it is not older than the subscription's state. */
  state: boolean;
  /** Its billing period is newer than the subscription's. */
  period: boolean;
  /** Why a part of the event changed nothing. */
  notes: string[];
}

const iso = (ms: number) => isoOrNull(ms)!;

/** The subscription after `change`; what of it was older than what the subscription already reflects. */
export function advance(before: SubscriptionState | null, change: BillingChange, ids: { provider: Provider; subject: string; eventId: string }): Advance {
  const notes: string[] = [];
  const state = before === null || change.at >= before.stateAt;
  if (!state) notes.push(`state: the subscription's state as of ${iso(before.stateAt)} is newer than this event's (${iso(change.at)})`);

  let period = false;
  if (change.period) {
    const known = before?.periodStart ?? null;
    period = known === null || change.period.start > known;
    if (known !== null && change.period.start < known) notes.push(`period: ${iso(change.period.start)} is older than the subscription's current period (from ${iso(known)})`);
  }

  const after: SubscriptionState = {
    provider: ids.provider,
    subscription: change.subscription,
    subject: ids.subject,
    customer: change.customer ?? before?.customer ?? null,
    status: state ? change.status : before!.status,
    plan: state && change.plan !== undefined ? change.plan : (before?.plan ?? null),
    prices: state && change.prices !== undefined ? change.prices : (before?.prices ?? []),
    periodStart: period ? change.period!.start : (before?.periodStart ?? null),
    periodEnd: period ? change.period!.end : (before?.periodEnd ?? null),
    startedAt: change.startedAt ?? before?.startedAt ?? null,
    stateAt: state ? change.at : before!.stateAt,
    lastEventId: ids.eventId,
  };
  return { after, state, period, notes };
}

/** The subscription a subject follows: of its live ones, the latest started. */
export function followed(subscriptions: readonly SubscriptionState[]): SubscriptionState | null {
  const started = (s: SubscriptionState) => s.startedAt ?? s.stateAt;
  return subscriptions
    .filter((s) => s.status === 'live')
    .reduce<SubscriptionState | null>((best, s) => (best === null || started(s) > started(best) || (started(s) === started(best) && s.stateAt > best.stateAt) ? s : best), null);
}

/**
 * The plan billing puts a subject on: its followed subscription's (null when that one's prices
 * map to no plan), else — once a subscription ended, and none is live — the default plan.
 * undefined while no subscription has said anything yet (pending ones say nothing).
 */
export function planTarget(subscriptions: readonly SubscriptionState[], defaultPlan: string): { plan: string | null; ended: boolean } | undefined {
  if (!subscriptions.some((s) => s.status !== 'pending')) return undefined;
  const current = followed(subscriptions);
  return current ? { plan: current.plan, ended: false } : { plan: defaultPlan, ended: true };
}

/**
 * The anchor that makes a new period start at `periodStart`, or why none is needed: a period
 * that starts no later than the subject's current one is already reflected, and a period
 * start the subject's own monthly periods reach anyway (the usual renewal) needs no move —
 * which also keeps an anchor on the 29th–31st from drifting to the 28th after February.
 */
export function renewalAnchor(periodStart: number, anchor: number | null, now: number): { anchor: number } | { note: string } {
  const current = periodAt(now, anchor).start;
  if (periodStart <= current) return { note: `period: the subject's current period (from ${iso(current)}) already starts at or after ${iso(periodStart)}` };
  if (periodAt(periodStart, anchor).start === periodStart) return { note: `period: the subject's periods already start at ${iso(periodStart)}` };
  return { anchor: periodStart };
}
