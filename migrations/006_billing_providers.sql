-- quotagate schema, version 6: Stripe and Paddle webhooks, natively (README "Billing webhooks").

-- Up Migration

-- Event ids are unique per provider only (Stripe's evt_… and Paddle's evt_… share a
-- spelling), so the once-only key is (provider, id). Existing rows are quotagate's own format.
ALTER TABLE webhook_events ADD COLUMN provider text NOT NULL DEFAULT 'quotagate';
ALTER TABLE webhook_events DROP CONSTRAINT webhook_events_pkey;
ALTER TABLE webhook_events ADD PRIMARY KEY (provider, id);
-- The subject an event was for (null: ignored types), and when the provider says it happened.
ALTER TABLE webhook_events ADD COLUMN subject_id text NULL;
ALTER TABLE webhook_events ADD COLUMN occurred_at timestamptz NULL;
CREATE INDEX webhook_events_subject_idx ON webhook_events (subject_id, received_at DESC) WHERE subject_id IS NOT NULL;

-- What each subscription last said, so a late or out-of-order event changes nothing:
-- state_at is the time of the newest event applied to status and plan; period_start the
-- newest billing period seen. A subject follows its latest-started live subscription.
CREATE TABLE billing_subscriptions (
  provider         text NOT NULL,
  subscription_id  text NOT NULL,
  subject_id       text NOT NULL,
  customer_id      text NULL,
  -- live: the plan applies; ended: canceled, unpaid, paused; pending: not paid yet.
  status           text NOT NULL CHECK (status IN ('live', 'ended', 'pending')),
  -- The plan its prices map to; null: none maps, or the event did not say.
  plan             text NULL,
  prices           text[] NOT NULL DEFAULT '{}',
  period_start     timestamptz NULL,
  period_end       timestamptz NULL,
  started_at       timestamptz NULL,
  state_at         timestamptz NOT NULL,
  last_event_id    text NOT NULL,
  updated_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (provider, subscription_id)
);
CREATE INDEX billing_subscriptions_subject_idx ON billing_subscriptions (subject_id);

-- Customer id → subject, kept by the operator through the admin API, for events that carry
-- no subject of their own (no metadata / custom_data set at checkout).
CREATE TABLE billing_customers (
  provider     text NOT NULL,
  customer_id  text NOT NULL,
  subject_id   text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (provider, customer_id)
);
CREATE INDEX billing_customers_subject_idx ON billing_customers (subject_id);

-- Events answered 404 because no subject could be found: the provider retries them, and the
-- operator sees here what to link. A row goes away when its event finally applies.
CREATE TABLE billing_unmatched (
  provider         text NOT NULL,
  event_id         text NOT NULL,
  event_type       text NOT NULL,
  -- unknown_customer: nothing names a subject; unknown_subject: the named subject does not exist.
  reason           text NOT NULL CHECK (reason IN ('unknown_customer', 'unknown_subject')),
  customer_id      text NULL,
  subscription_id  text NULL,
  subject_id       text NULL,
  attempts         integer NOT NULL DEFAULT 1,
  first_seen_at    timestamptz NOT NULL DEFAULT now(),
  last_seen_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (provider, event_id)
);
CREATE INDEX billing_unmatched_seen_idx ON billing_unmatched (last_seen_at DESC);

-- Down Migration

DROP TABLE IF EXISTS billing_unmatched;
DROP TABLE IF EXISTS billing_customers;
DROP TABLE IF EXISTS billing_subscriptions;
DROP INDEX IF EXISTS webhook_events_subject_idx;
ALTER TABLE webhook_events DROP COLUMN IF EXISTS occurred_at;
ALTER TABLE webhook_events DROP COLUMN IF EXISTS subject_id;
-- Ids are unique per provider only; the old key cannot hold the providers' events.
DELETE FROM webhook_events WHERE provider <> 'quotagate';
ALTER TABLE webhook_events DROP CONSTRAINT webhook_events_pkey;
ALTER TABLE webhook_events DROP COLUMN provider;
ALTER TABLE webhook_events ADD PRIMARY KEY (id);
