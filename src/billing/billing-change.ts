/** The billing providers quotagate reads webhooks from; `quotagate` is its own format. */
export const PROVIDERS = ['quotagate', 'stripe', 'paddle'] as const;
export type Provider = (typeof PROVIDERS)[number];

/**
 * What a subscription's state means for its subject: `live` (active, trialing, past due:
 * its plan applies), `ended` (canceled, unpaid, paused: back to the default plan) or
 * `pending` (created but not paid yet: nothing changes).
 */
export type SubscriptionStatus = 'live' | 'ended' | 'pending';

/** A billing period as the provider states it (ms). */
export interface BillingPeriod {
  start: number;
  end: number | null;
}

/**
 * One provider event, translated: what it says about one subscription. Each provider has
 * a translator that produces it; applyBillingChange is the one place that acts on it.
 */
export interface BillingChange {
  subscription: string;
  /** The subject the event names itself (checkout metadata / custom_data, or the quotagate format's subject_id). */
  subject?: string;
  customer?: string;
  /** Where the event names its subject and customer, for the problem of an event no subject matches. */
  fields: { subject: string; customer?: string };
  /** When the state the event reports was true (ms): newer state wins, older changes nothing. */
  at: number;
  /** When the subscription started: of several live subscriptions, the latest started one sets the plan. */
  startedAt?: number;
  status: SubscriptionStatus;
  /** The plan its prices map to; null: none maps; absent: the event does not say (the plan stays). */
  plan?: string | null;
  /** The price (or product) ids the plan was looked up by, for the record. */
  prices?: string[];
  /** The billing period the event reports; a newer one starts a new quota period. */
  period?: BillingPeriod;
  /** What the event is, for the audit action: a new period paid, a subscription update, or its end. */
  kind: 'renewal' | 'update' | 'cancel';
}

/** A translator's answer: a change to apply, or why the event is recorded and ignored. */
export type Translation = { change: BillingChange } | { ignored: string };
