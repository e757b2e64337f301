import type { Queryable } from '../db/transaction.js';
import type { Provider } from './billing-change.js';

export type UnmatchedReason = 'unknown_customer' | 'unknown_subject';

export interface UnmatchedEvent {
  provider: Provider;
  eventId: string;
  eventType: string;
  reason: UnmatchedReason;
  customer: string | null;
  subscription: string | null;
  subject: string | null;
  attempts: number;
  firstSeenAt: Date;
  lastSeenAt: Date;
}

interface Row {
  provider: Provider;
  event_id: string;
  event_type: string;
  reason: UnmatchedReason;
  customer_id: string | null;
  subscription_id: string | null;
  subject_id: string | null;
  attempts: number;
  first_seen_at: Date;
  last_seen_at: Date;
}

const toEvent = (r: Row): UnmatchedEvent => ({
  provider: r.provider,
  eventId: r.event_id,
  eventType: r.event_type,
  reason: r.reason,
  customer: r.customer_id,
  subscription: r.subscription_id,
  subject: r.subject_id,
  attempts: r.attempts,
  firstSeenAt: r.first_seen_at,
  lastSeenAt: r.last_seen_at,
});

/**
 * billing_unmatched: events no subject could be found for. The provider is told to retry
 * (404), and the operator finds here what to create or link; a row goes once its event applies.
 */
export const unmatchedEvents = {
  /** Records one more unmatched delivery of the event. */
  async record(db: Queryable, e: Omit<UnmatchedEvent, 'attempts' | 'firstSeenAt' | 'lastSeenAt'>): Promise<void> {
    await db.query(
      // Milliseconds, as the list's cursor carries them.
      `INSERT INTO billing_unmatched (provider, event_id, event_type, reason, customer_id, subscription_id, subject_id, first_seen_at, last_seen_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, date_trunc('milliseconds', now()), date_trunc('milliseconds', now()))
       ON CONFLICT (provider, event_id) DO UPDATE SET
         reason = EXCLUDED.reason, customer_id = EXCLUDED.customer_id, subscription_id = EXCLUDED.subscription_id,
         subject_id = EXCLUDED.subject_id, attempts = billing_unmatched.attempts + 1, last_seen_at = EXCLUDED.last_seen_at`,
      [e.provider, e.eventId, e.eventType, e.reason, e.customer, e.subscription, e.subject],
    );
  },

  /** The event applied at last: it is no longer the operator's concern. */
  async resolve(db: Queryable, provider: Provider, eventId: string): Promise<void> {
    await db.query('DELETE FROM billing_unmatched WHERE provider = $1 AND event_id = $2', [provider, eventId]);
  },

  /** A page, most recently seen first, before the cursor (last_seen_at, provider, event_id). */
  async list(db: Queryable, filter: { provider?: Provider; before?: [string, string, string]; limit: number }): Promise<UnmatchedEvent[]> {
    const { rows } = await db.query<Row>(
      `SELECT provider, event_id, event_type, reason, customer_id, subscription_id, subject_id, attempts, first_seen_at, last_seen_at
         FROM billing_unmatched
        WHERE ($1::text IS NULL OR provider = $1)
          AND ($2::timestamptz IS NULL OR (last_seen_at, provider, event_id) < ($2, $3, $4))
        ORDER BY last_seen_at DESC, provider DESC, event_id DESC LIMIT $5`,
      [filter.provider ?? null, filter.before?.[0] ?? null, filter.before?.[1] ?? null, filter.before?.[2] ?? null, filter.limit],
    );
    return rows.map(toEvent);
  },
};
