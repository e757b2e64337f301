import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { isDataError } from '../db/data-error.js';
import { sanitiseText, unstorableTextPath } from '../lib/storable-text.js';
import { deadLetterOf, recordDeadLetter, type DeadLetter } from './dead-letters.js';
import type { LedgerEvent } from './ledger-event.js';
import type { LedgerWriter } from './ledger-writer.js';

/** Told about every event newly set aside (metrics, the ledger.dead_letter notification). */
export interface DeadLetterObserver {
  deadLettered(letter: DeadLetter): void;
}

/**
 * The flusher's writer: one event Postgres refuses must never block its partition (SPEC
 * invariant 13). A batch refused for its data (data-error.ts) is split in halves, each
 * written on its own, down to the single events Postgres refuses: one bad event among
 * 1,000 costs about 11 failed transactions, the other 999 are written. A refused event:
 *
 * - holding text Postgres cannot store (U+0000, lone surrogates): written to the ledger
 *   with that text replaced by U+FFFD — its counter change, grant balances, Idempotency-Key
 *   and audit entry all land, so reconciliation balances — and its original kept as a
 *   `sanitised` dead letter, in the same transaction;
 * - refused for anything else (or even once sanitised): `parked` as a dead letter, out of
 *   the ledger until an operator replays it (dead-letters.ts).
 *
 * Either way the flusher acknowledges it with its batch. A lost connection is no data
 * error: it fails the flush, and the whole batch is read again later.
 */
export class IsolatingWriter {
  constructor(
    private readonly writer: LedgerWriter,
    private readonly pool: Pool,
    private readonly logger: Logger,
    private readonly observers: readonly DeadLetterObserver[],
  ) {}

  /** Returns the events that were new to the ledger (a sanitised one as written). */
  async write(events: readonly LedgerEvent[]): Promise<LedgerEvent[]> {
    try {
      return await this.writer.write(events);
    } catch (err) {
      if (!isDataError(err)) throw err;
      if (events.length === 1) return this.deadLetter(events[0]!, err);
      const half = Math.ceil(events.length / 2);
      return [...(await this.write(events.slice(0, half))), ...(await this.write(events.slice(half)))];
    }
  }

  private async deadLetter(event: LedgerEvent, refusal: unknown): Promise<LedgerEvent[]> {
    if (unstorableTextPath(event)) {
      const letter = deadLetterOf(event, refusal, 'sanitised');
      let fresh = false;
      try {
        const written = await this.writer.write([sanitiseText(event)], async (db) => {
          fresh = await recordDeadLetter(db, letter, event);
        });
        if (fresh) this.report(letter);
        return written;
      } catch (err) {
        if (!isDataError(err)) throw err;
        refusal = err;
      }
    }
    const letter = deadLetterOf(event, refusal, 'parked');
    if (await recordDeadLetter(this.pool, letter, event)) this.report(letter);
    return [];
  }

  private report(letter: DeadLetter): void {
    this.logger.error(
      { event: letter.eventId, subject: letter.subjectId, state: letter.state, err: letter.error, sqlstate: letter.sqlstate },
      'the ledger refused an event; set aside as a dead letter',
    );
    for (const observer of this.observers) observer.deadLettered(letter);
  }
}
