import type { Queryable } from '../db/transaction.js';
import type { Provider, SubscriptionStatus } from './billing-change.js';
import type { SubscriptionState } from './subscription-state.js';

interface Row {
  provider: Provider;
  subscription_id: string;
  subject_id: string;
  customer_id: string | null;
  status: SubscriptionStatus;
  plan: string | null;
  prices: string[];
  period_start: Date | null;
  period_end: Date | null;
  started_at: Date | null;
  state_at: Date;
  last_event_id: string;
}

const COLUMNS = 'provider, subscription_id, subject_id, customer_id, status, plan, prices, period_start, period_end, started_at, state_at, last_event_id';
const ms = (d: Date | null) => d?.getTime() ?? null;
const date = (ms: number | null) => (ms === null ? null : new Date(ms));

const toState = (r: Row): SubscriptionState => ({
  provider: r.provider,
  subscription: r.subscription_id,
  subject: r.subject_id,
  customer: r.customer_id,
  status: r.status,
  plan: r.plan,
  prices: r.prices,
  periodStart: ms(r.period_start),
  periodEnd: ms(r.period_end),
  startedAt: ms(r.started_at),
  stateAt: r.state_at.getTime(),
  lastEventId: r.last_event_id,
});

/** billing_subscriptions: what each provider subscription last said (see subscription-state.ts). */
export const subscriptionStore = {
  /** One subscription, or null when no event of it was applied yet; `lock`: until the transaction ends. */
  async get(db: Queryable, provider: Provider, subscription: string, options: { lock?: boolean } = {}): Promise<SubscriptionState | null> {
    const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM billing_subscriptions WHERE provider = $1 AND subscription_id = $2${options.lock ? ' FOR UPDATE' : ''}`, [
      provider,
      subscription,
    ]);
    return rows[0] ? toState(rows[0]) : null;
  },

  /** Every subscription of a subject, of every provider. */
  async ofSubject(db: Queryable, subject: string): Promise<SubscriptionState[]> {
    const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM billing_subscriptions WHERE subject_id = $1 ORDER BY provider, subscription_id`, [subject]);
    return rows.map(toState);
  },

  async save(db: Queryable, s: SubscriptionState): Promise<void> {
    await db.query(
      `INSERT INTO billing_subscriptions (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
       ON CONFLICT (provider, subscription_id) DO UPDATE SET
         subject_id = EXCLUDED.subject_id, customer_id = EXCLUDED.customer_id, status = EXCLUDED.status, plan = EXCLUDED.plan,
         prices = EXCLUDED.prices, period_start = EXCLUDED.period_start, period_end = EXCLUDED.period_end,
         started_at = EXCLUDED.started_at, state_at = EXCLUDED.state_at, last_event_id = EXCLUDED.last_event_id, updated_at = now()`,
      [s.provider, s.subscription, s.subject, s.customer, s.status, s.plan, s.prices, date(s.periodStart), date(s.periodEnd), date(s.startedAt), date(s.stateAt), s.lastEventId],
    );
  },
};
