import { randomBytes } from 'node:crypto';
import type { Pool } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LedgerEvent } from '../../src/ledger/ledger-event.js';
import { LedgerWriter } from '../../src/ledger/ledger-writer.js';
import { createPool } from '../../src/db/pool.js';
import { waitFor } from '../support/ledger-checks.js';
import { createTestPool, databaseUrl } from '../support/services.js';
import { startTcpProxy, targetOf } from '../support/tcp-proxy.js';
import { DAY, monthLabel, NEXT_PERIOD_START, PERIOD_START, PREVIOUS_PERIOD_START, T0 } from '../support/test-time.js';

/**
 * LedgerWriter against the real database: events built by hand the way the Lua scripts
 * write them (lua/includes/outbox.lua), so each kind's effect on usage_counters, grants and
 * ledger_idempotency is checked in isolation from Redis and the flusher.
 */

/** QG_IDEMPOTENCY_TTL_SECONDS' default: how long an Idempotency-Key stays taken. */
const IDEMPOTENCY_WINDOW_MS = 86_400_000;

let pool: Pool;
let writer: LedgerWriter;
beforeAll(() => {
  pool = createTestPool({ max: 6 });
  writer = new LedgerWriter(pool, IDEMPOTENCY_WINDOW_MS);
});
afterAll(() => pool.end());

const PERIOD = PERIOD_START;
const PREVIOUS_PERIOD = PREVIOUS_PERIOD_START;
const T = T0;
/** The periods as `counters()` names them. */
const CUR = monthLabel(PERIOD);
const PREV = monthLabel(PREVIOUS_PERIOD);
const run = randomBytes(4).toString('hex');
let subjects = 0;
let seq = 0;

/** A subject id no other test uses; inserted into `subjects` (grants reference it). */
async function newSubject(): Promise<string> {
  const id = `lw-${run}-${++subjects}`;
  await pool.query('INSERT INTO subjects (id, plan) VALUES ($1, $2)', [id, 'test']);
  return id;
}

function event(subjectId: string, e: Partial<LedgerEvent> & Pick<LedgerEvent, 'kind' | 'metric'>): LedgerEvent {
  const n = ++seq;
  return {
    id: `req-${run}-${n}:1`,
    subjectId,
    periodStart: PERIOD,
    delta: 0,
    valueAfter: 0,
    occurredAt: T + n,
    extra: {},
    context: {},
    streamId: `${T + n}-0`,
    ...e,
  };
}

async function counters(subjectId: string): Promise<Record<string, number>> {
  const { rows } = await pool.query<{ metric: string; period: string; value: string }>(
    `SELECT metric, CASE WHEN period_start = '-infinity' THEN 'gauge' ELSE to_char(period_start AT TIME ZONE 'UTC', 'YYYY-MM') END AS period, value
       FROM usage_counters WHERE subject_id = $1`,
    [subjectId],
  );
  return Object.fromEntries(rows.map((r) => [`${r.metric}@${r.period}`, Number(r.value)]));
}

async function grants(subjectId: string) {
  const { rows } = await pool.query<{
    id: string;
    metric: string;
    amount: string;
    remaining: string;
    expires_at: Date | null;
    reason: string | null;
    created_by: string | null;
    revoked: boolean;
  }>('SELECT id, metric, amount, remaining, expires_at, reason, created_by, revoked_at IS NOT NULL AS revoked FROM grants WHERE subject_id = $1 ORDER BY id', [subjectId]);
  return rows.map((r) => ({ ...r, amount: Number(r.amount), remaining: Number(r.remaining) }));
}

/** Writes a batch; returns how many of its events were new to the ledger. */
async function written(batch: readonly LedgerEvent[], by: LedgerWriter = writer): Promise<number> {
  const fresh: unknown = await by.write(batch);
  // write() answers the events that were new (tolerates a count, too).
  return Array.isArray(fresh) ? fresh.length : Number(fresh);
}

async function storedEvents(subjectId: string): Promise<number> {
  const { rows } = await pool.query<{ n: string }>('SELECT count(*) AS n FROM usage_events WHERE subject_id = $1', [subjectId]);
  return Number(rows[0]!.n);
}

describe('LedgerWriter', () => {
  it('writes an empty batch as a no-op', async () => {
    expect(await written([])).toBe(0);
  });

  it('counts a batch written twice once: the second write stores and moves nothing', async () => {
    const s = await newSubject();
    const batch = [
      event(s, { kind: 'consume', metric: 'gens', delta: 3, valueAfter: 3 }),
      event(s, { kind: 'consume', metric: 'gens', delta: 2, valueAfter: 5 }),
      event(s, { kind: 'consume', metric: 'projects', periodStart: null, delta: 1, valueAfter: 1 }),
    ];
    expect(await written(batch)).toBe(3);
    expect(await written(batch)).toBe(0);
    expect(await storedEvents(s)).toBe(3);
    expect(await counters(s)).toEqual({ [`gens@${CUR}`]: 5, 'projects@gauge': 1 });
  });

  it('counts an overlapping redelivery (a batch re-read with new entries after it) only for the new events', async () => {
    const s = await newSubject();
    const [a, b, c] = [1, 2, 4].map((d) => event(s, { kind: 'consume', metric: 'gens', delta: d }));
    expect(await written([a!, b!])).toBe(2);
    expect(await written([b!, c!])).toBe(1);
    expect(await counters(s)).toEqual({ [`gens@${CUR}`]: 7 });
  });

  it('counts the same batch once when two writers commit it at the same time', async () => {
    const s = await newSubject();
    const batch = Array.from({ length: 40 }, (_, i) => event(s, { kind: 'consume', metric: i % 2 ? 'gens' : 'tokens', delta: i + 1 }));
    const other = new LedgerWriter(pool, IDEMPOTENCY_WINDOW_MS);
    const fresh = await Promise.all([written(batch), written(batch, other), written(batch)]);
    expect(fresh.reduce((a, b) => a + b, 0)).toBe(40);
    expect(await storedEvents(s)).toBe(40);
    // gens: the even deltas 2 + 4 + ... + 40; tokens: the odd ones 1 + 3 + ... + 39.
    expect(await counters(s)).toEqual({ [`gens@${CUR}`]: 420, [`tokens@${CUR}`]: 400 });
  });

  it('moves usage_counters for every usage kind of a mixed batch, per subject, metric and period', async () => {
    const [s1, s2] = [await newSubject(), await newSubject()];
    const batch = [
      event(s1, { kind: 'consume', metric: 'gens', delta: 10, valueAfter: 10 }),
      event(s1, { kind: 'refund', metric: 'gens', delta: -2, valueAfter: 8 }),
      event(s1, { kind: 'reset', metric: 'gens', delta: -8, valueAfter: 0, extra: { previous: 8 } }),
      event(s1, { kind: 'adjust', metric: 'gens', delta: 3, valueAfter: 3 }),
      event(s1, { kind: 'consume', metric: 'tokens', delta: 500, valueAfter: 500, extra: { hold: 'h1' } }),
      event(s1, { kind: 'settle', metric: 'tokens', delta: -380, valueAfter: 120, extra: { hold: 'h1', held: 500, actual: 120 } }),
      event(s1, { kind: 'consume', metric: 'tokens', delta: 100, valueAfter: 220, extra: { hold: 'h2' } }),
      event(s1, { kind: 'settle', metric: 'tokens', delta: 50, valueAfter: 270, extra: { hold: 'h2', held: 100, actual: 150 } }),
      event(s1, { kind: 'consume', metric: 'exports', delta: 4, valueAfter: 4, extra: { hold: 'h3' } }),
      event(s1, { kind: 'expire', metric: 'exports', delta: -4, valueAfter: 0, extra: { hold: 'h3' } }),
      // A late settlement of last period's reservation lands in last period's counter.
      event(s1, { kind: 'settle', metric: 'tokens', periodStart: PREVIOUS_PERIOD, delta: 7, valueAfter: 907 }),
      event(s1, { kind: 'consume', metric: 'projects', periodStart: null, delta: 3, valueAfter: 3 }),
      event(s1, { kind: 'release', metric: 'projects', periodStart: null, delta: -1, valueAfter: 2 }),
      event(s1, { kind: 'denied', metric: 'gens', delta: 0, valueAfter: 3, extra: { requested: 200, limit: 100 } }),
      // Kinds that move no usage create no counter row, even for a metric seen nowhere else.
      event(s1, { kind: 'denied', metric: 'images', delta: 0, valueAfter: 0 }),
      event(s2, { kind: 'consume', metric: 'gens', delta: 1, valueAfter: 1 }),
      event(s2, { kind: 'adjust', metric: 'projects', periodStart: null, delta: 2, valueAfter: 2 }),
    ];
    expect(await written(batch)).toBe(batch.length);
    expect(await counters(s1)).toEqual({
      [`gens@${CUR}`]: 3,
      [`tokens@${CUR}`]: 270,
      [`tokens@${PREV}`]: 7,
      [`exports@${CUR}`]: 0,
      'projects@gauge': 2,
    });
    expect(await counters(s2)).toEqual({ [`gens@${CUR}`]: 1, 'projects@gauge': 2 });
    expect(await storedEvents(s1)).toBe(batch.length - 2);

    // The rows are the ledger as the scripts wrote it: kind, delta, value, period, extra.
    const { rows } = await pool.query<{ kind: string; delta: string; value_after: string; period_start: Date | null; extra: unknown }>(
      'SELECT kind, delta, value_after, period_start, extra FROM usage_events WHERE event_id = $1',
      [batch[5]!.id],
    );
    expect(rows).toEqual([{ kind: 'settle', delta: '-380', value_after: '120', period_start: new Date(PERIOD), extra: { hold: 'h1', held: 500, actual: 120 } }]);
  });

  it('keeps grants in step: created, drawn, restored and revoked; grant events move no usage', async () => {
    const s = await newSubject();
    const expires = NEXT_PERIOD_START + 30 * DAY;
    const [g1, g2] = [`g1-${run}-${s}`, `g2-${run}-${s}`];
    const first = [
      event(s, {
        kind: 'grant',
        metric: 'gens',
        periodStart: null,
        valueAfter: 10,
        extra: { grant: g1, amount: 10, expires_at: expires },
        context: { reason: 'promo', actor: 'admin:ops' },
      }),
      event(s, { kind: 'grant', metric: 'gens', periodStart: null, valueAfter: 15, extra: { grant: g2, amount: 5, expires_at: 0 } }),
      // 4 units beyond the plan: 4 drawn from the earliest-expiring grant.
      event(s, { kind: 'consume', metric: 'gens', delta: 4, valueAfter: 104, extra: { draws: [[g1, 4]], overage: 0 } }),
    ];
    expect(await written(first)).toBe(3);
    expect(await grants(s)).toEqual([
      { id: g1, metric: 'gens', amount: 10, remaining: 6, expires_at: new Date(expires), reason: 'promo', created_by: 'admin:ops', revoked: false },
      { id: g2, metric: 'gens', amount: 5, remaining: 5, expires_at: null, reason: null, created_by: null, revoked: false },
    ]);

    const second = [
      // A settle that draws across both grants, then a refund that gives 1 back (latest draw first).
      event(s, {
        kind: 'settle',
        metric: 'gens',
        delta: 8,
        valueAfter: 112,
        extra: {
          draws: [
            [g1, 6],
            [g2, 2],
          ],
          overage: 0,
        },
      }),
      event(s, { kind: 'refund', metric: 'gens', delta: -1, valueAfter: 111, extra: { restored: [[g2, 1]] } }),
      event(s, { kind: 'grant_revoke', metric: 'gens', periodStart: null, valueAfter: 0, extra: { grant: g2, remaining: 4 } }),
    ];
    expect(await written(second)).toBe(3);
    expect(await written([...first, ...second])).toBe(0); // a redelivery draws nothing again
    const after = await grants(s);
    expect(after.map(({ id, remaining, revoked }) => ({ id, remaining, revoked }))).toEqual([
      { id: g1, remaining: 0, revoked: false },
      { id: g2, remaining: 4, revoked: true },
    ]);
    // Only consume, settle and refund moved gens: 4 + 8 - 1.
    expect(await counters(s)).toEqual({ [`gens@${CUR}`]: 11 });
  });

  it('records the first request charged under an idempotency key once, and a later one as a duplicate', async () => {
    const s = await newSubject();
    const key = `idem-${run}-${s}`;
    const context = { idempotency_key: key, route: 'chat' };
    // One request charging two metrics: event ids <request id>:1 and :2.
    const first = event(s, { kind: 'consume', metric: 'gens', delta: 1, context });
    const firstLine2 = { ...event(s, { kind: 'consume', metric: 'tokens', delta: 30, context }), id: first.id.replace(/:1$/, ':2') };
    // Only consumes charge a key: a refund carrying one records nothing.
    const refund = event(s, { kind: 'refund', metric: 'gens', delta: -1, context: { idempotency_key: `refund-${key}` } });
    expect(await written([first, firstLine2, refund])).toBe(3);
    expect(await written([first, firstLine2, refund])).toBe(0);

    const keys = async () => (await pool.query('SELECT idempotency_key, first_event_id, occurred_at FROM ledger_idempotency WHERE subject_id = $1', [s])).rows;
    const duplicates = async () => (await pool.query('SELECT request_id, idempotency_key, first_request_id FROM ledger_duplicates WHERE subject_id = $1', [s])).rows;
    expect(await keys()).toEqual([{ idempotency_key: key, first_event_id: first.id, occurred_at: new Date(first.occurredAt) }]);
    expect(await duplicates()).toEqual([]);

    // Redis forgot the key and another request was charged under it within the window:
    // the first request stays recorded, the second is recorded as its duplicate (once).
    const again = event(s, { kind: 'consume', metric: 'gens', delta: 1, context });
    expect(await written([again])).toBe(1);
    expect(await written([again])).toBe(0);
    expect(await keys()).toEqual([{ idempotency_key: key, first_event_id: first.id, occurred_at: new Date(first.occurredAt) }]);
    const requestOf = (id: string) => id.slice(0, id.lastIndexOf(':'));
    expect(await duplicates()).toEqual([{ request_id: requestOf(again.id), idempotency_key: key, first_request_id: requestOf(first.id) }]);
    // The duplicate still counts: the ledger records what Redis charged.
    expect(await counters(s)).toEqual({ [`gens@${CUR}`]: 1, [`tokens@${CUR}`]: 30 });
  });

  it('rolls the whole batch back when one statement fails, so a retry counts it once', async () => {
    const s = await newSubject();
    const good = event(s, { kind: 'consume', metric: 'gens', delta: 5 });
    // A grant of 0 units violates grants_amount_check (the engine never writes one).
    const emptyGrant = event(s, { kind: 'grant', metric: 'gens', periodStart: null, extra: { grant: `empty-${run}`, amount: 0, expires_at: 0 } });
    await expect(writer.write([good, emptyGrant])).rejects.toThrow(/grants_amount_check/);
    expect(await storedEvents(s)).toBe(0);
    expect(await counters(s)).toEqual({});
    expect(await written([good])).toBe(1);
    expect(await counters(s)).toEqual({ [`gens@${CUR}`]: 5 });
  });

  it('rejects a batch whose connection is lost mid-transaction, without an unhandled error event, and a retry counts it once', async () => {
    const s = await newSubject();
    const e = event(s, { kind: 'consume', metric: 'gens', delta: 2 });
    const proxy = await startTcpProxy(targetOf(databaseUrl()));
    const proxied = createPool(proxy.rewrite(databaseUrl()), { max: 1, onError: () => {} });
    const blocker = await pool.connect();
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    try {
      // Hold the counter row the batch will update, so the write waits inside its transaction.
      await blocker.query('BEGIN');
      await blocker.query('INSERT INTO usage_counters (subject_id, metric, period_start, value) VALUES ($1, $2, $3, 0)', [s, 'gens', new Date(PERIOD).toISOString()]);
      const { rows } = await blocker.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      const outcome = new LedgerWriter(proxied, IDEMPOTENCY_WINDOW_MS).write([e]).then(
        () => new Error('the write committed'),
        (err: unknown) => err,
      );
      await waitFor('the write to wait for the row lock', async () => {
        const { rows: waiting } = await pool.query<{ n: string }>('SELECT count(*) AS n FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))', [rows[0]!.pid]);
        return Number(waiting[0]!.n) > 0;
      });
      // The connection drops while the client is checked out: the write must reject (an
      // 'error' event nobody listens to would crash the worker process instead).
      proxy.block('refuse');
      expect(String(await outcome)).toMatch(/terminated|ECONNRESET|connection/i);
      await blocker.query('ROLLBACK');
      await new Promise((resolve) => setTimeout(resolve, 50)); // let a late 'error' event surface
      expect(uncaught).toEqual([]);
    } finally {
      process.off('uncaughtException', onUncaught);
      blocker.release();
      await proxied.end();
      await proxy.close();
    }
    expect(await written([e])).toBe(1);
    expect(await counters(s)).toEqual({ [`gens@${CUR}`]: 2 });
  });
});
