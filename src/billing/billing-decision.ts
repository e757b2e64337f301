import { isoOrNull } from '../lib/iso-time.js';
import type { BillingChange, Provider } from './billing-change.js';
import { advance, followed, planTarget, renewalAnchor, type Advance, type SubscriptionState } from './subscription-state.js';

export interface DecisionInput {
  provider: Provider;
  eventId: string;
  change: BillingChange;
  /** The subscription as stored before the event (null: never seen). */
  known: SubscriptionState | null;
  subject: { id: string; plan: string; anchor: number | null };
  /** Every subscription of the subject before the event. */
  before: readonly SubscriptionState[];
  defaultPlan: string;
  now: number;
}

export interface Decision {
  step: Advance;
  /** The new anchor that starts the event's period for the subject. */
  anchor?: number;
  /** The plan the subject's subscriptions now put it on; `ended`: no live subscription is left. */
  plan?: { plan: string; ended: boolean };
  /** Why parts of the event change nothing. */
  notes: string[];
}

/**
 * What one event does to its subject, without I/O: the subscription advances (subscription-state.ts),
 * the subject follows what its subscriptions now say. A period moves the subject when it is
 * new to the subscription, or when the subscription has just become live (a pending one's
 * period was recorded, not applied); a plan, when what the subscriptions say changes. The
 * same period or plan said again re-asserts nothing, so an operator's own change stays.
 */
export function decide(input: DecisionInput): Decision {
  const { provider, change, known, subject, before, now } = input;
  const own = known?.subject === subject.id ? known : null;
  const step = advance(own, change, { provider, subject: subject.id, eventId: input.eventId });
  const notes = [...step.notes];
  const after = [...before.filter((s) => !(s.provider === provider && s.subscription === change.subscription)), step.after];

  const current = followed(after);
  const isFollowed = current?.provider === provider && current.subscription === change.subscription;
  if (step.state && step.after.status === 'live' && !isFollowed)
    notes.push(`plan: the subject follows ${current!.provider} subscription ${current!.subscription}, which started later`);
  if (step.state && isFollowed && step.after.plan === null && step.after.prices.length > 0) {
    notes.push(`plan: no price or product of the subscription (${step.after.prices.join(', ')}) maps to a plan in billing.${provider}; the plan stays`);
  }

  let anchor: number | undefined;
  const becameLive = step.state && step.after.status === 'live' && own !== null && own.status !== 'live';
  if (change.period && (step.period || becameLive)) {
    if (step.after.status !== 'live') notes.push(`period: the subscription is ${step.after.status}; its periods move nothing`);
    else if (isFollowed) {
      const renewal = renewalAnchor(change.period.start, subject.anchor, now);
      if ('anchor' in renewal) anchor = renewal.anchor;
      else notes.push(renewal.note);
    }
  } else if (change.period && change.period.start === own?.periodStart) notes.push(`period: the period from ${isoOrNull(own.periodStart)} is already applied`);

  const target = planTarget(after, input.defaultPlan);
  const previous = planTarget(before, input.defaultPlan);
  const plan = target && target.plan !== null && target.plan !== previous?.plan && target.plan !== subject.plan ? { plan: target.plan, ended: target.ended } : undefined;
  return { step, ...(anchor !== undefined && { anchor }), ...(plan && { plan }), notes };
}
