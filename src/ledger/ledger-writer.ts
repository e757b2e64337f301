import type { Pool, PoolClient } from 'pg';
import { ADD_FRESH_TO_ROLLUPS } from './usage-rollups.js';
import { GAUGE_PERIOD } from './pg-hydrator.js';
import { grantMoves, USAGE_KINDS, type LedgerEvent } from './ledger-event.js';
import { eventsJson, INSERT_EVENTS } from './usage-events-insert.js';
import { recordAudit } from './audit-entries.js';

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Moves a batch of outbox events into Postgres in ONE transaction: the events themselves
 * (a redelivered event id is ignored), the per-period counters, grant balances and the
 * idempotency keys charged. Only events new to the ledger move counters or grants, so a
 * batch delivered twice (a worker killed between commit and acknowledgement) counts once.
 * Multi-row statements, a few round trips per batch, not per event: events and counters in
 * one; grants, Idempotency-Keys and audit entries only when the batch carries such events.
 */
export class LedgerWriter {
  constructor(
    private readonly pool: Pool,
    /** How long an Idempotency-Key stays taken (QG_IDEMPOTENCY_TTL_SECONDS). */
    private readonly idempotencyWindowMs: number,
  ) {}

  /**
   * Returns the events that were new to the ledger. `alongside` runs in the same
   * transaction, after the events (a dead letter's row, a replay's audit entry).
   */
  async write(events: readonly LedgerEvent[], alongside?: (db: PoolClient, fresh: readonly LedgerEvent[]) => Promise<void>): Promise<LedgerEvent[]> {
    if (events.length === 0) return [];
    const client = await this.pool.connect();
    // A checked-out client has no pool listener: a connection lost mid-batch (Postgres
    // restarted, network cut) would be an unhandled 'error' event and kill the process.
    // The query in flight rejects with the same error, and the pool drops the broken client.
    const onConnectionError = () => {};
    client.on('error', onConnectionError);
    try {
      try {
        return await this.transaction(client, events, 'first', alongside);
      } catch (err) {
        // Some event is stored already: a redelivered batch (a worker killed between commit
        // and acknowledgement, or two claiming the same entries). Rare; written again, skipping those.
        if ((err as { code?: string }).code !== UNIQUE_VIOLATION) throw err;
        return await this.transaction(client, events, 'redelivered', alongside);
      }
    } finally {
      client.removeListener('error', onConnectionError);
      client.release();
    }
  }

  private async transaction(
    client: PoolClient,
    events: readonly LedgerEvent[],
    delivery: Delivery,
    alongside?: (db: PoolClient, fresh: readonly LedgerEvent[]) => Promise<void>,
  ): Promise<LedgerEvent[]> {
    try {
      await client.query('BEGIN');
      const fresh = await insertAndCount(client, events, delivery);
      await applyGrantEvents(client, fresh);
      await recordIdempotencyKeys(client, fresh, this.idempotencyWindowMs);
      await recordAudit(client, fresh);
      await alongside?.(client, fresh);
      await client.query('COMMIT');
      return fresh;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    }
  }
}

const UNIQUE_VIOLATION = '23505';

/**
 * 'first': a batch read for the first time, inserted as is: a stored event fails the whole
 * insert (the primary key), which is then made again as 'redelivered', with ON CONFLICT DO
 * NOTHING. Checking every row for a conflict up front would cost Postgres more than a
 * rare second attempt.
 */
type Delivery = 'first' | 'redelivered';

/**
 * Inserts the events (a redelivered event id is ignored) and, in the same statement, adds
 * the usage of those that were new to usage_counters, summed per subject, metric and
 * period, and to the hourly usage_rollups; the rows are locked in key order so concurrent
 * batches cannot deadlock. Returns the events that were new.
 */
async function insertAndCount(client: PoolClient, events: readonly LedgerEvent[], delivery: Delivery): Promise<LedgerEvent[]> {
  const { rows } = await client.query<{ fresh: string[] | null }>(
    `WITH fresh AS (
       ${INSERT_EVENTS}
       ${delivery === 'redelivered' ? 'ON CONFLICT DO NOTHING' : ''}
       RETURNING event_id, occurred_at, subject_id, metric, kind, period_start, delta, extra
     ), counted AS (
       INSERT INTO usage_counters AS c (subject_id, metric, period_start, value, last_event_at)
       SELECT subject_id, metric, coalesce(period_start, $3::timestamptz), sum(delta), max(occurred_at)
         FROM fresh WHERE kind = ANY($2::text[])
        GROUP BY 1, 2, 3
        ORDER BY 1, 2, 3
       ON CONFLICT (subject_id, metric, period_start) DO UPDATE
         SET value = c.value + excluded.value,
             last_event_at = greatest(c.last_event_at, excluded.last_event_at),
             updated_at = now()
     ), rolled AS (
       ${ADD_FRESH_TO_ROLLUPS}
     )
     -- Usually every event is new: one row and no ids to send back then.
     SELECT CASE WHEN count(*) = $4 THEN NULL ELSE coalesce(array_agg(event_id), '{}') END AS fresh FROM fresh`,
    [eventsJson(events), [...USAGE_KINDS], GAUGE_PERIOD, events.length],
  );
  const ids = rows[0]!.fresh;
  if (ids === null) return [...events];
  const inserted = new Set(ids);
  return events.filter((e) => inserted.has(e.id));
}

/**
 * Keeps `grants` in step with Redis, so a lost grants hash is rebuilt with the right
 * balances: new grants, units drawn (consume, settle) and given back (settle, refund,
 * release, expire), revocations.
 */
async function applyGrantEvents(client: PoolClient, events: readonly LedgerEvent[]): Promise<void> {
  const created = events.filter((e) => e.kind === 'grant');
  if (created.length > 0) {
    await client.query(
      `INSERT INTO grants (id, subject_id, metric, amount, remaining, expires_at, reason, created_by, created_at)
       SELECT g.id, g.subject_id, g.metric, g.amount, g.amount, g.expires_at, g.reason, g.created_by, g.created_at
         FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::timestamptz[], $6::text[], $7::text[], $8::timestamptz[])
              AS g(id, subject_id, metric, amount, expires_at, reason, created_by, created_at)
       ON CONFLICT (id) DO NOTHING`,
      [
        created.map((e) => String(e.extra.grant)),
        created.map((e) => e.subjectId),
        created.map((e) => e.metric),
        created.map((e) => Number(e.extra.amount)),
        created.map((e) => (Number(e.extra.expires_at) > 0 ? iso(Number(e.extra.expires_at)) : null)),
        created.map((e) => (typeof e.context.reason === 'string' ? e.context.reason : null)),
        created.map((e) => (typeof e.context.actor === 'string' ? e.context.actor : null)),
        created.map((e) => iso(e.occurredAt)),
      ],
    );
  }

  const moves = new Map<string, number>();
  for (const e of events) {
    for (const [id, n] of grantMoves(e.extra.draws)) moves.set(id, (moves.get(id) ?? 0) - n);
    for (const [id, n] of grantMoves(e.extra.restored)) moves.set(id, (moves.get(id) ?? 0) + n);
  }
  if (moves.size > 0) {
    const ids = [...moves.keys()].sort();
    await client.query(
      `UPDATE grants g SET remaining = greatest(0, least(g.amount, g.remaining + m.delta))
         FROM unnest($1::text[], $2::bigint[]) AS m(id, delta)
        WHERE g.id = m.id`,
      [ids, ids.map((id) => moves.get(id)!)],
    );
  }

  const revoked = events.filter((e) => e.kind === 'grant_revoke');
  if (revoked.length > 0) {
    await client.query(
      `UPDATE grants g SET revoked_at = r.at
         FROM unnest($1::text[], $2::timestamptz[]) AS r(id, at)
        WHERE g.id = r.id AND g.revoked_at IS NULL`,
      [revoked.map((e) => String(e.extra.grant)), revoked.map((e) => iso(e.occurredAt))],
    );
  }
}

/** The request an event belongs to: event ids are `<request id>:<n>`. */
const requestOf = (eventId: string) => eventId.slice(0, eventId.lastIndexOf(':'));

/**
 * The first charge under each (subject, Idempotency-Key), and any other request charging
 * the same key within the idempotency window: Redis remembers keys only while it keeps
 * its data, so after a wipe a retry can be charged again; the ledger notices, and
 * reconciliation refunds it. A key older than the window starts afresh, as in Redis.
 */
async function recordIdempotencyKeys(client: PoolClient, events: readonly LedgerEvent[], windowMs: number): Promise<void> {
  const requests = new Map<string, { subject: string; key: string; request: string; event: LedgerEvent }>();
  for (const e of events) {
    const key = e.context.idempotency_key;
    if (e.kind !== 'consume' || typeof key !== 'string') continue;
    const request = requestOf(e.id);
    if (!requests.has(request)) requests.set(request, { subject: e.subjectId, key, request, event: e });
  }
  if (requests.size === 0) return;
  // One row per key (ON CONFLICT DO UPDATE may touch a row once per statement): the batch's earliest request.
  const firsts = new Map<string, { subject: string; key: string; request: string; event: LedgerEvent }>();
  for (const r of requests.values()) {
    const id = `${r.subject}\u0000${r.key}`;
    const known = firsts.get(id);
    if (!known || r.event.occurredAt < known.event.occurredAt) firsts.set(id, r);
  }
  const rows = [...firsts.values()];
  // The no-op update locks and returns the row that won, so concurrent batches agree on the first request.
  const { rows: winners } = await client.query<{ subject_id: string; idempotency_key: string; first_event_id: string; occurred_at: Date }>(
    `INSERT INTO ledger_idempotency AS l (subject_id, idempotency_key, first_event_id, occurred_at)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[])
     ON CONFLICT (subject_id, idempotency_key) DO UPDATE
       SET first_event_id = CASE WHEN l.occurred_at < excluded.occurred_at - make_interval(secs => $5) THEN excluded.first_event_id ELSE l.first_event_id END,
           occurred_at = CASE WHEN l.occurred_at < excluded.occurred_at - make_interval(secs => $5) THEN excluded.occurred_at ELSE l.occurred_at END
     RETURNING subject_id, idempotency_key, first_event_id, occurred_at`,
    [rows.map((r) => r.subject), rows.map((r) => r.key), rows.map((r) => r.event.id), rows.map((r) => iso(r.event.occurredAt)), windowMs / 1000],
  );
  const firstOf = new Map(winners.map((w) => [`${w.subject_id}\u0000${w.idempotency_key}`, { request: requestOf(w.first_event_id), at: w.occurred_at.getTime() }]));
  const duplicates = [...requests.values()].flatMap((r) => {
    const first = firstOf.get(`${r.subject}\u0000${r.key}`);
    const within = first !== undefined && first.request !== r.request && r.event.occurredAt - first.at <= windowMs;
    return within ? [{ ...r, first: first.request }] : [];
  });
  if (duplicates.length === 0) return;
  await client.query(
    `INSERT INTO ledger_duplicates (request_id, subject_id, idempotency_key, first_request_id)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
     ON CONFLICT DO NOTHING`,
    [duplicates.map((d) => d.request), duplicates.map((d) => d.subject), duplicates.map((d) => d.key), duplicates.map((d) => d.first)],
  );
}
