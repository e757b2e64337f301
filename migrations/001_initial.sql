-- quotagate schema, version 1. Applied by node-pg-migrate (src/db/migrate.ts) with its SQL
-- loader: the file is split at the two marker comments below, and each part runs as one
-- multi-statement query inside the migration transaction. Keep those two marker lines
-- unique: any other comment line that starts with "up"/"down" followed by "migration"
-- would be taken as a marker too.

-- Up Migration

-- Subjects: whose usage is metered (SPEC "Concepts"). Soft-deleted so the ledger and the
-- audit log keep pointing at something.
CREATE TABLE subjects (
  id          text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9._:@-]{1,128}$'),
  plan        text NOT NULL,
  -- NULL: calendar months in UTC.
  anchor      timestamptz NULL,
  -- metric -> limit (a whole number, or null for unlimited); overrides the plan's limit.
  overrides   jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(overrides) = 'object'),
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  deleted_at  timestamptz NULL
);

CREATE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END
$$;

CREATE TRIGGER subjects_touch_updated_at
  BEFORE UPDATE ON subjects
  FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

-- API keys: only the SHA-256 of the secret is stored; `prefix` (the secret's first chars)
-- lets an operator recognise a key in listings without being able to use it.
CREATE TABLE api_keys (
  id            text PRIMARY KEY,
  subject_id    text NOT NULL REFERENCES subjects (id) ON DELETE CASCADE,
  prefix        text NOT NULL,
  hash          bytea NOT NULL UNIQUE CHECK (octet_length(hash) = 32),
  name          text NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_used_at  timestamptz NULL,
  revoked_at    timestamptz NULL
);
CREATE INDEX api_keys_subject_idx ON api_keys (subject_id);

-- Grants (bonus credit), used after the plan allowance, earliest expiry first. Kept up to
-- date by the worker from grant events, so like the ledger it has no foreign key: an event
-- must never be refused (that would block its outbox partition).
CREATE TABLE grants (
  id          text PRIMARY KEY,
  subject_id  text NOT NULL,
  metric      text NOT NULL,
  amount      bigint NOT NULL CHECK (amount > 0),
  remaining   bigint NOT NULL CHECK (remaining >= 0),
  expires_at  timestamptz NULL,
  reason      text NULL,
  created_by  text NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  revoked_at  timestamptz NULL,
  CONSTRAINT grants_remaining_le_amount CHECK (remaining <= amount)
);
CREATE INDEX grants_subject_metric_idx ON grants (subject_id, metric);

-- The ledger: one row per event written by the Redis scripts' outbox, moved here by the
-- worker. Append-only and never rewritten. No foreign key to subjects: the ledger must
-- accept every event the outbox holds, and outlives a subject's deletion.
--
-- Partitioned by month of occurred_at, so old months can be detached or dropped whole.
-- The primary key must contain the partition key; a duplicate delivery of one event
-- always carries the same occurred_at, so INSERT ... ON CONFLICT DO NOTHING dedupes.
CREATE TABLE usage_events (
  event_id      text NOT NULL,
  occurred_at   timestamptz NOT NULL,
  subject_id    text NOT NULL,
  metric        text NOT NULL,
  kind          text NOT NULL CHECK (kind IN (
                  'consume', 'settle', 'refund', 'release', 'expire', 'reset',
                  'grant', 'grant_revoke', 'adjust', 'denied')),
  -- NULL for gauges and grants, which belong to no period.
  period_start  timestamptz NULL,
  delta         bigint NOT NULL DEFAULT 0,
  -- The counter (or gauge level) right after the event; NULL when the event moved none.
  value_after   bigint NULL,
  extra         jsonb NOT NULL DEFAULT '{}',
  -- Request context: route, request id, idempotency key, API key id.
  context       jsonb NOT NULL DEFAULT '{}',
  -- Redis stream entry id of the outbox entry that carried the event.
  stream_id     text NULL,
  recorded_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (event_id, occurred_at)
) PARTITION BY RANGE (occurred_at);

-- Catches rows no monthly partition covers yet, so an insert never fails for want of a
-- partition. Keep it empty by creating months ahead (ensure_usage_event_partitions).
CREATE TABLE usage_events_default PARTITION OF usage_events DEFAULT;

-- Indexes on the parent are created on every partition, present and future.
CREATE INDEX usage_events_subject_time_idx ON usage_events (subject_id, occurred_at DESC);
CREATE INDEX usage_events_subject_metric_period_idx ON usage_events (subject_id, metric, period_start);

-- The ledger is never rewritten: UPDATE, DELETE and TRUNCATE fail (retention detaches or
-- drops whole monthly partitions instead). The one exception is
-- ensure_usage_event_partitions moving rows, unchanged, out of the default partition: it
-- sets quotagate.ledger_maintenance, transaction-locally, around that one statement. This
-- guards against application bugs, not against a database owner, who can drop the trigger.
CREATE FUNCTION usage_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND current_setting('quotagate.ledger_maintenance', true) = 'on' THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'usage_events is append-only: % is not allowed', TG_OP
    USING ERRCODE = 'restrict_violation',
          HINT = 'record a correcting event (refund, adjust) instead';
END
$$;

CREATE TRIGGER usage_events_append_only
  BEFORE UPDATE OR DELETE ON usage_events
  FOR EACH ROW EXECUTE FUNCTION usage_events_append_only();

-- Statement triggers are not inherited, so every partition gets its own TRUNCATE guard.
CREATE TRIGGER usage_events_no_truncate
  BEFORE TRUNCATE ON usage_events
  FOR EACH STATEMENT EXECUTE FUNCTION usage_events_append_only();
CREATE TRIGGER usage_events_no_truncate
  BEFORE TRUNCATE ON usage_events_default
  FOR EACH STATEMENT EXECUTE FUNCTION usage_events_append_only();

-- Creates the monthly partitions usage_events_YYYYMM (UTC months) for `months` months
-- starting with the month of `from_month`; existing ones are left alone, so it is safe to
-- call at every migrate and worker start. Returns how many it created.
--
-- Postgres refuses to create a partition while the default partition holds rows of its
-- range. Such rows (from a month nobody created in time) are moved into the new partition
-- in the same transaction, so the call never fails for that reason.
CREATE FUNCTION ensure_usage_event_partitions(from_month date, months integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  first_month date := date_trunc('month', from_month)::date;
  month_start date;
  part_name   text;
  lower_bound text;
  upper_bound text;
  created     integer := 0;
BEGIN
  IF months IS NULL OR months < 0 THEN
    RAISE EXCEPTION 'months must be >= 0, got %', months;
  END IF;
  -- Two workers starting together must not race to create the same table.
  PERFORM pg_advisory_xact_lock(hashtext('quotagate:usage_events:partitions'));

  FOR i IN 0 .. months - 1 LOOP
    month_start := (first_month + make_interval(months => i))::date;
    part_name := 'usage_events_' || to_char(month_start, 'YYYYMM');
    CONTINUE WHEN to_regclass(quote_ident(part_name)) IS NOT NULL;

    -- Bounds as explicit UTC instants, independent of the session's TimeZone.
    lower_bound := to_char(month_start, 'YYYY-MM-DD') || ' 00:00:00+00';
    upper_bound := to_char((month_start + interval '1 month')::date, 'YYYY-MM-DD') || ' 00:00:00+00';

    IF EXISTS (SELECT 1 FROM usage_events_default
               WHERE occurred_at >= lower_bound::timestamptz AND occurred_at < upper_bound::timestamptz) THEN
      EXECUTE format('CREATE TABLE %I (LIKE usage_events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part_name);
      PERFORM set_config('quotagate.ledger_maintenance', 'on', true);
      EXECUTE format(
        'WITH moved AS (DELETE FROM usage_events_default WHERE occurred_at >= %L AND occurred_at < %L RETURNING *)
         INSERT INTO %I SELECT * FROM moved',
        lower_bound, upper_bound, part_name);
      PERFORM set_config('quotagate.ledger_maintenance', 'off', true);
      -- Attaching clones the parent's indexes, primary key and row triggers onto the table.
      EXECUTE format('ALTER TABLE usage_events ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                     part_name, lower_bound, upper_bound);
    ELSE
      EXECUTE format('CREATE TABLE %I PARTITION OF usage_events FOR VALUES FROM (%L) TO (%L)',
                     part_name, lower_bound, upper_bound);
    END IF;
    EXECUTE format('CREATE TRIGGER usage_events_no_truncate BEFORE TRUNCATE ON %I
                    FOR EACH STATEMENT EXECUTE FUNCTION usage_events_append_only()', part_name);
    created := created + 1;
  END LOOP;
  RETURN created;
END
$$;

-- The current month and the next two; the worker keeps creating months ahead.
SELECT ensure_usage_event_partitions((now() AT TIME ZONE 'UTC')::date, 3);

-- Per-period totals maintained by the worker in the same transaction that inserts the
-- events; the source Redis counters are rebuilt from. Gauge levels use period_start
-- '-infinity' (a gauge belongs to no period) so the primary key stays NOT NULL.
CREATE TABLE usage_counters (
  subject_id     text NOT NULL,
  metric         text NOT NULL,
  period_start   timestamptz NOT NULL,
  value          bigint NOT NULL,
  last_event_at  timestamptz NULL,
  updated_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (subject_id, metric, period_start)
);

-- Who did what, for admin actions and billing webhooks. No foreign key: it outlives subjects.
CREATE TABLE audit_log (
  id          bigserial PRIMARY KEY,
  at          timestamptz NOT NULL DEFAULT now(),
  actor       text NOT NULL,
  action      text NOT NULL,
  subject_id  text NULL,
  reason      text NULL,
  details     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_subject_idx ON audit_log (subject_id, id DESC);

-- Billing webhooks, keyed by the provider's event id so each is processed once.
CREATE TABLE webhook_events (
  id            text PRIMARY KEY,
  type          text NOT NULL,
  received_at   timestamptz NOT NULL DEFAULT now(),
  processed_at  timestamptz NULL,
  payload       jsonb NOT NULL,
  result        jsonb NULL
);

CREATE TABLE reconciliation_runs (
  id           bigserial PRIMARY KEY,
  started_at   timestamptz NOT NULL DEFAULT now(),
  finished_at  timestamptz NULL,
  status       text NOT NULL DEFAULT 'running',
  -- What started it: 'schedule' or 'manual'.
  trigger      text NOT NULL,
  stats        jsonb NOT NULL DEFAULT '{}'
);

CREATE TABLE reconciliation_drifts (
  id            bigserial PRIMARY KEY,
  run_id        bigint NOT NULL REFERENCES reconciliation_runs (id) ON DELETE CASCADE,
  subject_id    text NOT NULL,
  metric        text NOT NULL,
  -- '-infinity' for gauges, as in usage_counters.
  period_start  timestamptz NOT NULL,
  -- NULL: the key was missing in Redis.
  redis_value   bigint NULL,
  ledger_value  bigint NOT NULL,
  action        text NOT NULL,
  at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reconciliation_drifts_run_idx ON reconciliation_drifts (run_id, id);

-- The first ledger event charged under each idempotency key. Redis forgets keys when it
-- is wiped; reconciliation uses this to spot a key charged twice.
CREATE TABLE ledger_idempotency (
  subject_id       text NOT NULL,
  idempotency_key  text NOT NULL,
  first_event_id   text NOT NULL,
  occurred_at      timestamptz NOT NULL,
  PRIMARY KEY (subject_id, idempotency_key)
);
-- For pruning keys older than the idempotency window.
CREATE INDEX ledger_idempotency_occurred_idx ON ledger_idempotency (occurred_at);

-- Down Migration

DROP TABLE IF EXISTS ledger_idempotency;
DROP TABLE IF EXISTS reconciliation_drifts;
DROP TABLE IF EXISTS reconciliation_runs;
DROP TABLE IF EXISTS webhook_events;
DROP TABLE IF EXISTS audit_log;
DROP TABLE IF EXISTS usage_counters;
-- Dropping the parent drops every partition with it.
DROP TABLE IF EXISTS usage_events;
DROP FUNCTION IF EXISTS ensure_usage_event_partitions(date, integer);
DROP FUNCTION IF EXISTS usage_events_append_only();
DROP TABLE IF EXISTS grants;
DROP TABLE IF EXISTS api_keys;
DROP TABLE IF EXISTS subjects;
DROP FUNCTION IF EXISTS touch_updated_at();
