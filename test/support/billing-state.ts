import type { BillingChange } from '../../src/billing/billing-change.js';
import type { SubscriptionState } from '../../src/billing/subscription-state.js';

/**
 * Builders for the pure billing rules' unit tests: an instant far from any real one (nothing
 * here touches Redis or Postgres), a translated event, and a stored subscription — both of
 * Stripe subscription sub_1 of org_1 on `pro`, in the period that began ten minutes before T.
 */
export const T = Date.UTC(2030, 0, 10, 12);
export const MIN = 60_000;

export const changeOf = (over: Partial<BillingChange> = {}): BillingChange => ({
  subscription: 'sub_1',
  fields: { subject: 'data.object.metadata.quotagate_subject' },
  at: T,
  status: 'live',
  plan: 'pro',
  prices: ['price_pro'],
  period: { start: T - 10 * MIN, end: null },
  kind: 'update',
  ...over,
});

export const subscriptionOf = (over: Partial<SubscriptionState> = {}): SubscriptionState => ({
  provider: 'stripe',
  subscription: 'sub_1',
  subject: 'org_1',
  customer: null,
  status: 'live',
  plan: 'pro',
  prices: ['price_pro'],
  periodStart: T - 10 * MIN,
  periodEnd: null,
  startedAt: T - 100 * MIN,
  stateAt: T - MIN,
  lastEventId: 'evt_0',
  ...over,
});
