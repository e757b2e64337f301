-- quotagate schema, version 7: usage history (hourly rollups of the ledger) and the
-- `projected_exceed` notification. Same loader rules as 001_initial.sql: keep the two
-- marker lines below unique.

-- Up Migration

-- The ledger summed per subject, metric, period and UTC hour: what the history, the
-- forecasts and the dashboard's charts read instead of scanning usage_events. Kept by the
-- worker in the transaction that inserts the events, from the events new to the ledger
-- only (src/history/usage-rollups.ts), so a redelivered batch never counts twice; no
-- foreign key, like the ledger. Days are summed from hours at query time.
CREATE TABLE usage_rollups (
  subject_id    text NOT NULL,
  -- The UTC hour the events occurred in.
  hour          timestamptz NOT NULL,
  metric        text NOT NULL,
  -- The events' period; '-infinity' for gauges (as in usage_counters).
  period_start  timestamptz NOT NULL,
  -- SUM(delta) of the usage-moving events (consume, settle, refund, release, expire,
  -- reset, adjust): what the hour moved usage_counters by.
  net           bigint NOT NULL DEFAULT 0,
  -- The part of `net` made by resets (<= 0), so usage without resets is net - reset.
  reset         bigint NOT NULL DEFAULT 0,
  -- Charges allowed (consume events) and quota denials (denied events; shadow-mode ones,
  -- which denied nothing, are left out).
  charges       bigint NOT NULL DEFAULT 0,
  denials       bigint NOT NULL DEFAULT 0,
  -- A subject's rows of a time window are one index range.
  PRIMARY KEY (subject_id, hour, metric, period_start)
);
-- Every subject's rows of a recent window (overview, forecast notifications).
CREATE INDEX usage_rollups_hour_idx ON usage_rollups (hour);

-- Recomputes the rollups of the hours in [from_at, to_at) from the ledger itself: the
-- backfill below, and `quotagate rollups rebuild` after a rolling upgrade (workers older
-- than this migration write events without rollups) or to check them. The exclusive lock
-- makes the worker's flushes wait (reads go on) until the transaction ends, so no event
-- commits between the recount and the writers that keep the table. Returns the rows written.
CREATE FUNCTION rebuild_usage_rollups(from_at timestamptz, to_at timestamptz)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  first_hour timestamptz := date_trunc('hour', from_at, 'UTC');
  -- Rounded up, so the hour holding to_at is recounted whole.
  end_hour   timestamptz := CASE WHEN date_trunc('hour', to_at, 'UTC') = to_at THEN to_at
                                 ELSE date_trunc('hour', to_at, 'UTC') + interval '1 hour' END;
  written    bigint;
BEGIN
  LOCK TABLE usage_rollups IN EXCLUSIVE MODE;
  DELETE FROM usage_rollups WHERE hour >= first_hour AND hour < end_hour;
  INSERT INTO usage_rollups (subject_id, hour, metric, period_start, net, reset, charges, denials)
  SELECT subject_id, date_trunc('hour', occurred_at, 'UTC'), metric, coalesce(period_start, '-infinity'),
         coalesce(sum(delta) FILTER (WHERE kind <> 'denied'), 0),
         coalesce(sum(delta) FILTER (WHERE kind = 'reset'), 0),
         count(*) FILTER (WHERE kind = 'consume'),
         count(*) FILTER (WHERE kind = 'denied' AND (extra->>'shadow') IS DISTINCT FROM 'true')
    FROM usage_events
   WHERE occurred_at >= first_hour AND occurred_at < end_hour
     AND kind IN ('consume', 'settle', 'refund', 'release', 'expire', 'reset', 'adjust', 'denied')
   GROUP BY 1, 2, 3, 4;
  GET DIAGNOSTICS written = ROW_COUNT;
  RETURN written;
END
$$;

-- The ledger so far.
SELECT rebuild_usage_rollups('-infinity', 'infinity');

-- A subject projected to use up a counter before its period ends (once per period).
ALTER TABLE notifications DROP CONSTRAINT notifications_kind_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check
  CHECK (kind IN ('usage_threshold', 'abuse', 'drift', 'dead_letter', 'projected_exceed'));
-- The overview's "near or over their limits": the newest usage threshold notifications.
CREATE INDEX notifications_kind_created_idx ON notifications (kind, created_at DESC);

-- Down Migration

DROP INDEX IF EXISTS notifications_kind_created_idx;
DELETE FROM notifications WHERE kind = 'projected_exceed';
ALTER TABLE notifications DROP CONSTRAINT notifications_kind_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check
  CHECK (kind IN ('usage_threshold', 'abuse', 'drift', 'dead_letter'));
DROP FUNCTION IF EXISTS rebuild_usage_rollups(timestamptz, timestamptz);
DROP TABLE IF EXISTS usage_rollups;
