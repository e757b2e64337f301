import type { Queryable } from '../db/transaction.js';
import type { Provider } from './billing-change.js';

export interface CustomerLink {
  provider: Provider;
  customer: string;
  subject: string;
  createdAt: Date;
  updatedAt: Date;
}

interface Row {
  provider: Provider;
  customer_id: string;
  subject_id: string;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = 'provider, customer_id, subject_id, created_at, updated_at';
const toLink = (r: Row): CustomerLink => ({ provider: r.provider, customer: r.customer_id, subject: r.subject_id, createdAt: r.created_at, updatedAt: r.updated_at });

/**
 * billing_customers: a provider's customer id → the subject its events are for, kept by the
 * operator for events that name no subject themselves.
 */
export const customerLinks = {
  async subjectOf(db: Queryable, provider: Provider, customer: string): Promise<string | null> {
    const { rows } = await db.query<{ subject_id: string }>('SELECT subject_id FROM billing_customers WHERE provider = $1 AND customer_id = $2', [provider, customer]);
    return rows[0]?.subject_id ?? null;
  },

  /** Links (or re-links) the customer; returns the link and the subject it pointed at before, if any. */
  async link(db: Queryable, provider: Provider, customer: string, subject: string): Promise<{ link: CustomerLink; previous: string | null }> {
    const { rows } = await db.query<Row & { previous: string | null }>(
      `WITH old AS (SELECT subject_id FROM billing_customers WHERE provider = $1 AND customer_id = $2 FOR UPDATE)
       INSERT INTO billing_customers (provider, customer_id, subject_id) VALUES ($1, $2, $3)
       ON CONFLICT (provider, customer_id) DO UPDATE SET subject_id = EXCLUDED.subject_id, updated_at = now()
       RETURNING ${COLUMNS}, (SELECT subject_id FROM old) AS previous`,
      [provider, customer, subject],
    );
    return { link: toLink(rows[0]!), previous: rows[0]!.previous };
  },

  /** Removes the link; returns the subject it pointed at, or null when there was none. */
  async unlink(db: Queryable, provider: Provider, customer: string): Promise<string | null> {
    const { rows } = await db.query<{ subject_id: string }>('DELETE FROM billing_customers WHERE provider = $1 AND customer_id = $2 RETURNING subject_id', [provider, customer]);
    return rows[0]?.subject_id ?? null;
  },

  /** A page in (provider, customer) order, after `after`. */
  async list(db: Queryable, filter: { provider?: Provider; subject?: string; after?: [string, string]; limit: number }): Promise<CustomerLink[]> {
    const { rows } = await db.query<Row>(
      `SELECT ${COLUMNS} FROM billing_customers
        WHERE ($1::text IS NULL OR provider = $1) AND ($2::text IS NULL OR subject_id = $2)
          AND ($3::text IS NULL OR (provider, customer_id) > ($3, $4))
        ORDER BY provider, customer_id LIMIT $5`,
      [filter.provider ?? null, filter.subject ?? null, filter.after?.[0] ?? null, filter.after?.[1] ?? null, filter.limit],
    );
    return rows.map(toLink);
  },
};
