import { randomBytes } from 'node:crypto';
import type { Pool } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LedgerWriter } from '../../src/ledger/ledger-writer.js';
import { deliveries, ledgerBuckets, random, randomEvents, rollupBuckets, testSeed } from '../support/rollup-checks.js';
import { createTestPool } from '../support/services.js';
import { DAY, T0 } from '../support/test-time.js';

/**
 * usage_rollups against the ledger it summarises: random events of every kind, spread over
 * 40 days (two period boundaries, calendar and anchored, and events on the very first and
 * last millisecond of hours and days), written by concurrent LedgerWriters in random
 * batches that overlap and are delivered again, as crashed and competing workers deliver
 * them. However they arrive, each hour, day and period of the rollups must equal the sums
 * of the events stored in usage_events.
 */

const IDEMPOTENCY_WINDOW_MS = 86_400_000;
const SEED = testSeed();
const run = randomBytes(4).toString('hex');

let pool: Pool;
beforeAll(() => {
  pool = createTestPool({ max: 8 });
});
afterAll(() => pool.end());

describe(`usage_rollups (QG_TEST_SEED=${SEED})`, () => {
  it('equal the ledger per hour, day and period, however batches are split, repeated and raced', async () => {
    const rand = random(SEED);
    // Calendar months, and an anchor on the 31st at 14:30, whose periods start mid-day.
    const subjects = [
      { id: `roll-${run}-cal`, anchor: null },
      { id: `roll-${run}-anc`, anchor: Date.UTC(2024, 0, 31, 14, 30) },
      { id: `roll-${run}-third`, anchor: null },
    ];
    const ids = subjects.map((s) => s.id);
    const events = randomEvents(rand, `roll-${run}`, subjects, T0 - 30 * DAY, 3_000);
    const batches = deliveries(rand, events);
    const writers = Array.from({ length: 4 }, () => new LedgerWriter(pool, IDEMPOTENCY_WINDOW_MS));
    // Four writers at once, each taking the next batch: competing workers.
    let next = 0;
    await Promise.all(
      writers.map(async (w) => {
        while (next < batches.length) await w.write(batches[next++]!);
      }),
    );
    // And the whole ledger delivered once more, by two at once: nothing may move.
    const before = await rollupBuckets(pool, ids, 'hour');
    await Promise.all([writers[0]!.write(events), writers[1]!.write(events)]);

    const stored = await pool.query<{ n: string }>('SELECT count(*) AS n FROM usage_events WHERE subject_id = ANY($1)', [ids]);
    expect(Number(stored.rows[0]!.n)).toBe(events.length);
    expect(await rollupBuckets(pool, ids, 'hour')).toEqual(before);
    for (const bucket of ['hour', 'day'] as const) {
      const [rolled, ledger] = await Promise.all([rollupBuckets(pool, ids, bucket), ledgerBuckets(pool, ids, bucket)]);
      expect(Object.keys(ledger).length).toBeGreaterThan(bucket === 'hour' ? 100 : 30);
      expect(rolled, `per ${bucket}`).toEqual(ledger);
    }

    // Per period, the rollups add up to usage_counters, the ledger's running total.
    const { rows } = await pool.query<{ subject_id: string; metric: string; period_start: string; rolled: string; counter: string | null }>(
      `SELECT r.subject_id, r.metric, r.period_start::text, sum(r.net) AS rolled, c.value AS counter
         FROM usage_rollups r LEFT JOIN usage_counters c USING (subject_id, metric, period_start)
        WHERE r.subject_id = ANY($1) GROUP BY 1, 2, 3, c.value`,
      [ids],
    );
    expect(rows.length).toBeGreaterThan(6);
    for (const r of rows) expect(Number(r.rolled), `${r.subject_id} ${r.metric} ${r.period_start}`).toBe(Number(r.counter ?? 0));
  });
});
