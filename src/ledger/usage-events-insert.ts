import type { LedgerEvent } from './ledger-event.js';

/**
 * The statement that inserts a batch of events into usage_events from ONE parameter, the
 * batch as a JSON array of rows (eventsJson), each an array in the column order below:
 * Postgres parses it in one pass, rather than node-postgres encoding and escaping an array
 * per column (every timestamp as text) for Postgres to parse again, and extra and context
 * arrive already parsed. Times travel as ms; to_timestamp(ms / 1000) is exact to the µs.
 */
export const INSERT_EVENTS = `INSERT INTO usage_events (event_id, occurred_at, subject_id, metric, kind, period_start, delta, value_after, extra, context, stream_id)
  SELECT e->>0, to_timestamp((e->>1)::float8 / 1000), e->>2, e->>3, e->>4, to_timestamp((e->>5)::float8 / 1000),
         (e->>6)::bigint, (e->>7)::bigint, e->8, e->9, e->>10
    FROM jsonb_array_elements($1::jsonb) AS e`;

/** $1 of INSERT_EVENTS: each event as an array in the column order of its INSERT. */
export const eventsJson = (events: readonly LedgerEvent[]): string =>
  JSON.stringify(events.map((e) => [e.id, e.occurredAt, e.subjectId, e.metric, e.kind, e.periodStart, e.delta, e.valueAfter, e.extra, e.context, e.streamId]));
