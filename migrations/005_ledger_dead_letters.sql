-- quotagate schema, version 5: ledger events the database refused (SPEC invariant 13). Same
-- loader rules as 001_initial.sql: keep the two marker lines below unique.

-- Up Migration

-- One row per outbox event that Postgres refused on its own (the flusher isolates it from
-- its batch, so the rest of the partition is written and acknowledged). The columns that
-- identify it hold its text with U+0000 and lone surrogates replaced by U+FFFD; `event` is
-- the event as the flusher decoded it from the outbox, as JSON text (such characters stay \u
-- escapes there, which a text column holds).
CREATE TABLE ledger_dead_letters (
  event_id     text PRIMARY KEY,
  subject_id   text NOT NULL,
  metric       text NOT NULL,
  kind         text NOT NULL,
  stream_id    text NULL,
  event        text NOT NULL,
  -- Postgres's error and SQLSTATE.
  error        text NOT NULL,
  sqlstate     text NULL,
  -- sanitised: the event is in the ledger with its unstorable text replaced by U+FFFD
  --            (counters, grants, audit all applied); this row keeps the original.
  -- parked:    the event is not in the ledger; an operator replays it once the cause is mended.
  -- replayed:  a parked event since written to the ledger by a replay.
  state        text NOT NULL CHECK (state IN ('sanitised', 'parked', 'replayed')),
  -- Times the flusher or a replay met the refusal.
  attempts     integer NOT NULL DEFAULT 1,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  replayed_by  text NULL
);
CREATE INDEX ledger_dead_letters_state_idx ON ledger_dead_letters (state, created_at DESC);

-- Dead letters are notified (ledger.dead_letter) like thresholds, abuse and drift.
ALTER TABLE notifications DROP CONSTRAINT notifications_kind_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check CHECK (kind IN ('usage_threshold', 'abuse', 'drift', 'dead_letter'));

-- Down Migration

ALTER TABLE notifications DROP CONSTRAINT notifications_kind_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check CHECK (kind IN ('usage_threshold', 'abuse', 'drift'));
DROP TABLE IF EXISTS ledger_dead_letters;
