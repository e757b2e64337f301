import { randomBytes } from 'node:crypto';
import type { Pool } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { USAGE_KINDS, type LedgerEvent } from '../../src/ledger/ledger-event.js';
import { LedgerWriter } from '../../src/ledger/ledger-writer.js';
import { periodAt } from '../../src/lib/period.js';
import { createTestPool } from '../support/services.js';
import { DAY, HOUR, T0 } from '../support/test-time.js';

/**
 * usage_rollups against the ledger it summarises: random events of every kind, spread over
 * 40 days (two period boundaries, calendar and anchored, and events on the very first and
 * last millisecond of hours and days), written by concurrent LedgerWriters in random
 * batches that overlap and are delivered again, as crashed and competing workers deliver
 * them. However they arrive, each hour, day and period of the rollups must equal the sums
 * of the events stored in usage_events.
 */

const IDEMPOTENCY_WINDOW_MS = 86_400_000;
const SEED = Number(process.env.QG_TEST_SEED ?? Date.now() % 1_000_000);
const run = randomBytes(4).toString('hex');

/** mulberry32: a small seeded generator, so a failure can be replayed with QG_TEST_SEED. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

let pool: Pool;
beforeAll(() => {
  pool = createTestPool({ max: 8 });
});
afterAll(() => pool.end());

const KINDS = ['consume', 'consume', 'consume', 'settle', 'refund', 'release', 'expire', 'reset', 'adjust', 'denied', 'grant', 'grant_revoke'] as const;

/** `count` random events of `subjects` between `from` and `from + 40 days`. */
function randomEvents(rand: () => number, subjects: { id: string; anchor: number | null }[], from: number, count: number): LedgerEvent[] {
  const pick = <T,>(items: readonly T[]) => items[Math.floor(rand() * items.length)]!;
  const events: LedgerEvent[] = [];
  for (let n = 0; n < count; n++) {
    const subject = pick(subjects);
    const kind = pick(KINDS);
    const metric = pick(['gens', 'tokens', 'projects']);
    // Every fifth event on an hour's first or last millisecond, where a bucket ends.
    const hour = from + Math.floor(rand() * 40 * 24) * HOUR;
    const at = n % 5 === 0 ? hour + (rand() < 0.5 ? 0 : HOUR - 1) : hour + Math.floor(rand() * HOUR);
    const gauge = metric === 'projects' || kind === 'grant' || kind === 'grant_revoke';
    const period = periodAt(at, subject.anchor).start;
    // A late settlement lands in the period before the one it occurs in.
    const periodStart = gauge ? null : kind === 'settle' && rand() < 0.3 ? periodAt(period - 1, subject.anchor).start : period;
    const moves = USAGE_KINDS.has(kind);
    const delta = !moves ? 0 : kind === 'reset' ? -Math.floor(rand() * 500) : Math.floor(rand() * 200) - (['refund', 'release', 'expire'].includes(kind) ? 200 : 40);
    events.push({
      id: `roll-${run}-${n}:${1 + (n % 3)}`,
      kind,
      subjectId: subject.id,
      metric,
      periodStart,
      delta,
      valueAfter: 0,
      occurredAt: at,
      extra: kind === 'denied' ? { requested: 5, limit: 10, shadow: rand() < 0.25 } : kind.startsWith('grant') ? { grant: `g-${run}-${n}`, amount: 5, expires_at: 0 } : {},
      context: {},
      streamId: `${at}-${n}`,
    });
  }
  return events;
}

/** Random slices of `events`, overlapping, many delivered twice, in a shuffled order. */
function deliveries(rand: () => number, events: readonly LedgerEvent[]): LedgerEvent[][] {
  const batches: LedgerEvent[][] = [];
  for (let i = 0; i < events.length; ) {
    const size = 1 + Math.floor(rand() * 120);
    batches.push(events.slice(i, i + size));
    // A worker killed after its commit: the next one reads part of the same entries again, plus new ones.
    if (rand() < 0.3) batches.push(events.slice(Math.max(0, i - Math.floor(rand() * 40)), i + size + Math.floor(rand() * 40)));
    i += size;
  }
  for (let i = batches.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [batches[i], batches[j]] = [batches[j]!, batches[i]!];
  }
  return batches;
}

/** Rows keyed `subject|metric|period|bucket` → [net, reset, charges, denials], as two sources compute them. */
type Sums = Record<string, [number, number, number, number]>;

async function rollupSums(subjects: string[], bucket: 'hour' | 'day'): Promise<Sums> {
  const { rows } = await pool.query<{ k: string; net: string; reset: string; charges: string; denials: string }>(
    `SELECT concat_ws('|', subject_id, metric, period_start, date_trunc($2, hour, 'UTC')) AS k,
            sum(net) AS net, sum(reset) AS reset, sum(charges) AS charges, sum(denials) AS denials
       FROM usage_rollups WHERE subject_id = ANY($1) GROUP BY 1`,
    [subjects, bucket],
  );
  return Object.fromEntries(rows.map((r) => [r.k, [Number(r.net), Number(r.reset), Number(r.charges), Number(r.denials)]]));
}

/** The same sums straight from usage_events; rows of an empty bucket (all zero) are left out on both sides. */
async function ledgerSums(subjects: string[], bucket: 'hour' | 'day'): Promise<Sums> {
  const { rows } = await pool.query<{ k: string; net: string; reset: string; charges: string; denials: string }>(
    `SELECT concat_ws('|', subject_id, metric, coalesce(period_start, '-infinity'), date_trunc($2, occurred_at, 'UTC')) AS k,
            sum(delta) FILTER (WHERE kind = ANY($3)) AS net,
            coalesce(sum(delta) FILTER (WHERE kind = 'reset'), 0) AS reset,
            count(*) FILTER (WHERE kind = 'consume') AS charges,
            count(*) FILTER (WHERE kind = 'denied' AND NOT (extra->>'shadow')::boolean) AS denials
       FROM usage_events WHERE subject_id = ANY($1) AND kind = ANY($4) GROUP BY 1`,
    [subjects, bucket, [...USAGE_KINDS], [...USAGE_KINDS, 'denied']],
  );
  return Object.fromEntries(rows.map((r) => [r.k, [Number(r.net ?? 0), Number(r.reset), Number(r.charges), Number(r.denials)]]));
}

describe(`usage_rollups (seed ${SEED})`, () => {
  it('equal the ledger per hour, day and period, however batches are split, repeated and raced', async () => {
    const rand = random(SEED);
    // Calendar months, and an anchor on the 31st at 14:30, whose periods start mid-day.
    const subjects = [
      { id: `roll-${run}-cal`, anchor: null },
      { id: `roll-${run}-anc`, anchor: Date.UTC(2024, 0, 31, 14, 30) },
      { id: `roll-${run}-third`, anchor: null },
    ];
    const from = T0 - 30 * DAY;
    const events = randomEvents(rand, subjects, from, 3_000);
    const batches = deliveries(rand, events);
    const writers = Array.from({ length: 4 }, () => new LedgerWriter(pool, IDEMPOTENCY_WINDOW_MS));
    // Four writers at once, each taking the next batch: competing workers.
    let next = 0;
    await Promise.all(writers.map(async (w) => {
      while (next < batches.length) await w.write(batches[next++]!);
    }));
    // And the whole ledger delivered once more, by two at once: nothing may move.
    const before = await rollupSums(subjects.map((s) => s.id), 'hour');
    await Promise.all([writers[0]!.write(events), writers[1]!.write(events)]);

    const ids = subjects.map((s) => s.id);
    const stored = await pool.query<{ n: string }>('SELECT count(*) AS n FROM usage_events WHERE subject_id = ANY($1)', [ids]);
    expect(Number(stored.rows[0]!.n)).toBe(events.length);
    expect(await rollupSums(ids, 'hour')).toEqual(before);
    const nonZero = (s: Sums) => Object.fromEntries(Object.entries(s).filter(([, v]) => v.some((x) => x !== 0)));
    for (const bucket of ['hour', 'day'] as const) {
      const [rolled, ledger] = await Promise.all([rollupSums(ids, bucket), ledgerSums(ids, bucket)]);
      expect(Object.keys(ledger).length).toBeGreaterThan(bucket === 'hour' ? 100 : 30);
      expect(nonZero(rolled), `per ${bucket}`).toEqual(nonZero(ledger));
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
