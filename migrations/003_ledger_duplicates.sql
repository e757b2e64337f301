-- Requests charged under an Idempotency-Key that an earlier request of the same subject had
-- already used within the idempotency window: possible only when Redis lost the key's
-- record (a wipe, a failover). The flusher records them; reconciliation refunds them.

-- Up Migration

CREATE TABLE ledger_duplicates (
  -- The duplicate request (its ledger event ids are `<request_id>:<n>`).
  request_id        text PRIMARY KEY,
  subject_id        text NOT NULL,
  idempotency_key   text NOT NULL,
  -- The request that first charged the key.
  first_request_id  text NOT NULL,
  detected_at       timestamptz NOT NULL DEFAULT now(),
  resolved_at       timestamptz NULL,
  -- {"refunded": {metric: units}} or {"reported": "<why it could not be refunded>"}.
  resolution        jsonb NULL
);
CREATE INDEX ledger_duplicates_open_idx ON ledger_duplicates (detected_at) WHERE resolved_at IS NULL;

-- Down Migration

DROP TABLE IF EXISTS ledger_duplicates;
