import type { Pool } from 'pg';
import { writeAudit, type AuditActor } from '../audit/audit-log.js';
import { isDataError } from '../db/data-error.js';
import type { Queryable } from '../db/transaction.js';
import { sanitiseText } from '../lib/storable-text.js';
import type { LedgerEvent } from './ledger-event.js';
import type { LedgerWriter } from './ledger-writer.js';

/**
 * Ledger events Postgres refused on their own (migrations/005_ledger_dead_letters.sql):
 * recorded by the flusher (isolating-writer.ts), listed and replayed by the admin API.
 */

export type DeadLetterState = 'sanitised' | 'parked' | 'replayed';

/** What the flusher records about a refused event. */
export interface DeadLetter {
  eventId: string;
  subjectId: string;
  metric: string;
  kind: string;
  state: Exclude<DeadLetterState, 'replayed'>;
  error: string;
  sqlstate: string | null;
}

export interface DeadLetterRow {
  event_id: string;
  subject_id: string;
  metric: string;
  kind: string;
  stream_id: string | null;
  event: string;
  error: string;
  sqlstate: string | null;
  state: DeadLetterState;
  attempts: number;
  created_at: Date;
  updated_at: Date;
  replayed_by: string | null;
}

/** The dead letter of `event`, refused with `err`. */
export function deadLetterOf(event: LedgerEvent, err: unknown, state: DeadLetter['state']): DeadLetter {
  return {
    ...sanitiseText({ eventId: event.id, subjectId: event.subjectId, metric: event.metric, kind: event.kind }),
    state,
    error: sanitiseText((err as Error)?.message ?? String(err)),
    sqlstate: typeof (err as { code?: unknown })?.code === 'string' ? (err as { code: string }).code : null,
  };
}

/**
 * Records a dead letter (with `event` as decoded from the outbox). The same event met
 * again (a redelivered batch) counts an attempt; returns whether the letter is new.
 */
export async function recordDeadLetter(db: Queryable, letter: DeadLetter, event: LedgerEvent): Promise<boolean> {
  const { rows } = await db.query<{ fresh: boolean }>(
    `INSERT INTO ledger_dead_letters (event_id, subject_id, metric, kind, stream_id, event, error, sqlstate, state)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     ON CONFLICT (event_id) DO UPDATE SET attempts = ledger_dead_letters.attempts + 1, updated_at = now()
     RETURNING (xmax = 0) AS fresh`,
    [letter.eventId, letter.subjectId, letter.metric, letter.kind, event.streamId, JSON.stringify(event), letter.error, letter.sqlstate, letter.state],
  );
  return rows[0]!.fresh;
}

/** A page of dead letters, newest first, after the (created_at, event_id) of `before`. */
export async function listDeadLetters(pool: Pool, query: { state?: DeadLetterState; subject?: string; before?: [string, string]; limit: number }): Promise<DeadLetterRow[]> {
  const { rows } = await pool.query<DeadLetterRow>(
    `SELECT event_id, subject_id, metric, kind, stream_id, event, error, sqlstate, state, attempts, created_at, updated_at, replayed_by
       FROM ledger_dead_letters
      WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR subject_id = $2)
        AND ($3::timestamptz IS NULL OR (created_at, event_id) < ($3, $4::text))
      ORDER BY created_at DESC, event_id DESC LIMIT $5`,
    [query.state ?? null, query.subject ?? null, query.before?.[0] ?? null, query.before?.[1] ?? null, query.limit],
  );
  return rows;
}

export type ReplayOutcome =
  | { outcome: 'replayed'; eventId: string }
  | { outcome: 'not_found' }
  /** Only parked letters are replayed: a sanitised one is in the ledger, a replayed one too. */
  | { outcome: 'not_parked'; state: DeadLetterState }
  /** Postgres refused it again; the letter stays parked with the new error. */
  | { outcome: 'refused'; error: string; sqlstate: string | null };

class NotParked extends Error {}

/**
 * Writes a parked event to the ledger through the flusher's own writer (so its counters,
 * grants, Idempotency-Key and audit entry are written as they would have been), marks the
 * letter replayed and audits the replay, all in one transaction. Once per event id: two
 * replays at once both insert the event, the second waits on its primary key, then finds
 * it stored and the letter replayed, and changes nothing.
 */
export async function replayDeadLetter(pool: Pool, writer: LedgerWriter, eventId: string, who: AuditActor): Promise<ReplayOutcome> {
  const { rows } = await pool.query<Pick<DeadLetterRow, 'event' | 'state'>>('SELECT event, state FROM ledger_dead_letters WHERE event_id = $1', [eventId]);
  const row = rows[0];
  if (!row) return { outcome: 'not_found' };
  if (row.state !== 'parked') return { outcome: 'not_parked', state: row.state };
  const event = JSON.parse(row.event) as LedgerEvent;
  try {
    await writer.write([event], async (db) => {
      const marked = await db.query(`UPDATE ledger_dead_letters SET state = 'replayed', replayed_by = $2, updated_at = now() WHERE event_id = $1 AND state = 'parked'`, [
        eventId,
        who.actor,
      ]);
      if (marked.rowCount !== 1) throw new NotParked();
      await writeAudit(db, { ...who, action: 'ledger.dead_letter_replayed', subjectId: event.subjectId, details: { event_id: eventId, kind: event.kind, metric: event.metric } });
    });
    return { outcome: 'replayed', eventId };
  } catch (err) {
    if (err instanceof NotParked) return { outcome: 'not_parked', state: 'replayed' };
    if (!isDataError(err)) throw err;
    const letter = deadLetterOf(event, err, 'parked');
    await pool.query(`UPDATE ledger_dead_letters SET attempts = attempts + 1, error = $2, sqlstate = $3, updated_at = now() WHERE event_id = $1`, [
      eventId,
      letter.error,
      letter.sqlstate,
    ]);
    return { outcome: 'refused', error: letter.error, sqlstate: letter.sqlstate };
  }
}
