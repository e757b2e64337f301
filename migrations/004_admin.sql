-- quotagate schema, version 4: the operator's side (admin API, billing webhooks).

-- Up Migration

-- Admin changes applied in Redis (reset, grant, grant revoke, adjust) are audited by the
-- worker in the transaction that writes their ledger event; event_id keeps a redelivered
-- event from auditing twice. NULL for changes made in Postgres alone (subjects, keys).
ALTER TABLE audit_log ADD COLUMN event_id text NULL;
CREATE UNIQUE INDEX audit_log_event_idx ON audit_log (event_id) WHERE event_id IS NOT NULL;
-- The audit query without a subject filter pages newest first by id.
CREATE INDEX audit_log_action_idx ON audit_log (action, id DESC);

-- Subjects are listed by id (keyset pagination) and by plan.
CREATE INDEX subjects_plan_idx ON subjects (plan, id) WHERE deleted_at IS NULL;

-- Down Migration

DROP INDEX IF EXISTS subjects_plan_idx;
DROP INDEX IF EXISTS audit_log_action_idx;
DROP INDEX IF EXISTS audit_log_event_idx;
ALTER TABLE audit_log DROP COLUMN IF EXISTS event_id;
