-- quotagate schema, version 2: outgoing notifications (SPEC "Worker": Notify). Same loader
-- rules as 001_initial.sql: keep the two marker lines below unique.

-- Up Migration

-- One row per notification quotagate decided to send: a usage threshold crossed, abuse
-- suspected, drift found by reconciliation. The row is recorded first and delivered by a
-- BullMQ `webhook` job afterwards (at least once; receivers dedupe on `id`). With no
-- QG_NOTIFY_URL configured, rows are recorded and never delivered.
CREATE TABLE notifications (
  -- UUIDv7, made by the application (src/lib/ids.ts); also the webhook's event id.
  id            text PRIMARY KEY,
  kind          text NOT NULL CHECK (kind IN ('usage_threshold', 'abuse', 'drift')),
  subject_id    text NOT NULL,
  -- NULL for notifications about no one metric (abuse).
  metric        text NULL,
  -- The counter's period; '-infinity' for gauges (as in usage_counters); NULL for none.
  period_start  timestamptz NULL,
  -- What was crossed: '80', '95', '100' (usage_threshold); the minute start ISO (abuse);
  -- whatever makes a drift notification unique (e.g. the reconciliation run id).
  threshold     text NULL,
  payload       jsonb NOT NULL DEFAULT '{}',
  created_at    timestamptz NOT NULL DEFAULT now(),
  delivered_at  timestamptz NULL,
  attempts      integer NOT NULL DEFAULT 0,
  last_error    text NULL
);

-- "Once per threshold per period", enforced here: a second insert of the same notification
-- (another worker, a redelivered batch, a later event) conflicts and is dropped with
-- INSERT ... ON CONFLICT DO NOTHING.
CREATE UNIQUE INDEX notifications_once_idx ON notifications (
  kind, subject_id, coalesce(metric, ''), coalesce(period_start, '-infinity'), coalesce(threshold, '')
);

-- Listing a subject's notifications, newest first; finding undelivered ones to send again.
CREATE INDEX notifications_subject_idx ON notifications (subject_id, created_at DESC);
CREATE INDEX notifications_undelivered_idx ON notifications (created_at) WHERE delivered_at IS NULL;

-- Down Migration

DROP TABLE IF EXISTS notifications;
