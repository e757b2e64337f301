/**
 * `npm run bench:history`: what reading the usage history costs on a ledger of BENCH_EVENTS
 * events (default 1,000,000). Saves its figures to bench/results/history.json and renders
 * bench/RESULTS.md.
 *
 * A freshly created database gets a ledger made by one bounded generate_series insert:
 * events of every kind over the last 60 days, spread over BENCH_SUBJECTS subjects (default
 * 2,000), a fifth of them for one heavy subject. Then:
 *
 * 1. The backfill: rebuild_usage_rollups() over the whole ledger (what migration 007 does).
 * 2. A subject's 30-day history, as GET /admin/v1/subjects/{id}/history and
 *    /v1/usage?history=30d read it (UsageHistory.history: one range of usage_rollups and
 *    the counters), for the heavy subject and for a typical one; beside each, the baseline
 *    it replaces: the same days summed from usage_events (a scan per request).
 * 3. The forecast basis of one subject (14 days of rollups; GET /v1/usage reads it once a
 *    day per subject and gateway), and the overview's queries over every subject: top
 *    consumers and denials per day over 30 days, and the projected-exceed job's active set.
 *
 * Each query runs BENCH_REPEAT times (default 30) after one warm-up; p50 and p95 are reported.
 * Environment: BENCH_DATABASE_URL (postgres://postgres@127.0.0.1:5432/quotagate_bench_history;
 * DROPPED and recreated, so its name must contain "bench").
 */
import type { Pool } from 'pg';
import { createPool } from '../../src/db/pool.js';
import { rebuildRollups } from '../../src/history/rebuild-rollups.js';
import { readRollups } from '../../src/history/rollup-rows.js';
import { UsageHistory } from '../../src/history/usage-history.js';
import { denialTotals, topConsumers } from '../../src/admin/overview/rollup-totals.js';
import { systemClock } from '../../src/lib/clock.js';
import { periodAt } from '../../src/lib/period.js';
import { createLogger } from '../../src/observability/logger.js';
import type { MetricUsage } from '../../src/quota/types.js';
import { envInt } from '../shared/env.js';
import { postgresVersion, recreateDatabase } from '../ledger/database.js';
import { renderResults } from '../render.js';
import { runInfo, saveFigures } from '../shared/results.js';
import type { ReportInput } from './report.js';
import { runBenchmark, teardownSteps } from '../shared/run-benchmark.js';
import { percentile } from '../shared/stats.js';

const CONFIG = { events: envInt('BENCH_EVENTS', 1_000_000), subjects: envInt('BENCH_SUBJECTS', 2_000), repeat: envInt('BENCH_REPEAT', 30) };
const DATABASE_URL = process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/quotagate_bench_history';
const DAY = 86_400_000;
const HEAVY = 'bench-heavy';
const TYPICAL = 'bench-s7';

const teardown = teardownSteps();

/**
 * The ledger: event i belongs to the heavy subject when i % 5 = 0, else to one of the
 * others; 60 days back from now; kinds mostly consume, with settles, refunds, resets,
 * adjusts, releases and denials; counters in their calendar month, gauges without a period.
 */
async function fillLedger(pool: Pool): Promise<void> {
  await pool.query(`SELECT ensure_usage_event_partitions((now() - interval '3 months')::date, 6)`);
  await pool.query(`INSERT INTO subjects (id, plan) SELECT 'bench-s' || s, 'test' FROM generate_series(1, $1::int) s UNION ALL SELECT $2, 'test'`, [CONFIG.subjects - 1, HEAVY]);
  await pool.query(
    `INSERT INTO usage_events (event_id, occurred_at, subject_id, metric, kind, period_start, delta, value_after)
     SELECT 'bench-' || i || ':1', at, subject, metric, kind,
            CASE WHEN metric = 'projects' THEN NULL ELSE date_trunc('month', at, 'UTC') END,
            CASE kind WHEN 'denied' THEN 0 WHEN 'refund' THEN -3 WHEN 'release' THEN -1 WHEN 'reset' THEN -50 ELSE 1 + i % 7 END, 0
       FROM (SELECT i, now() - (i % 5184000) * interval '1 second' AS at,
                    CASE WHEN i % 5 = 0 THEN $2 ELSE 'bench-s' || (1 + i % ($3::int - 1)) END AS subject,
                    (ARRAY['gens', 'tokens', 'tokens', 'projects'])[1 + i % 4] AS metric,
                    (ARRAY['consume', 'consume', 'consume', 'consume', 'consume', 'consume', 'settle', 'refund', 'denied', 'adjust', 'release', 'reset'])[1 + (i / 4) % 12] AS kind
               FROM generate_series(1, $1::int) AS i) AS e`,
    [CONFIG.events, HEAVY, CONFIG.subjects],
  );
  await pool.query(
    `INSERT INTO usage_counters (subject_id, metric, period_start, value)
     SELECT subject_id, metric, coalesce(period_start, '-infinity'), sum(delta) FROM usage_events
      WHERE kind <> 'denied' GROUP BY 1, 2, 3`,
  );
  await pool.query('ANALYZE');
}

/** p50 and p95 (ms) of `repeat` runs of `work`, after one warm-up run. */
async function timed(work: () => Promise<unknown>): Promise<{ p50: number; p95: number }> {
  await work();
  const ms: number[] = [];
  for (let i = 0; i < CONFIG.repeat; i++) {
    const started = performance.now();
    await work();
    ms.push(performance.now() - started);
  }
  return { p50: percentile(ms, 50), p95: percentile(ms, 95) };
}

/** Live usage as the engine would report it (the history reads only its metric, kind and period). */
function usageOf(now: number): MetricUsage[] {
  const period = periodAt(now);
  return [
    { metric: 'gens', kind: 'counter', limit: 100_000, used: 0, remaining: 100_000, grantBalance: 0, periodStart: period.start, resetsAt: period.end },
    { metric: 'tokens', kind: 'counter', limit: 1_000_000, used: 0, remaining: 1_000_000, grantBalance: 0, periodStart: period.start, resetsAt: period.end },
    { metric: 'projects', kind: 'gauge', limit: 1_000, used: 0, remaining: 1_000, grantBalance: 0, periodStart: null, resetsAt: null },
  ];
}

/** The scan the rollups replace: one subject's usage per UTC day of the last 30, from usage_events. */
const scanLedger = (pool: Pool, subject: string, from: number) =>
  pool.query(
    `SELECT metric, date_trunc('day', occurred_at, 'UTC') AS day, sum(delta) FILTER (WHERE kind <> 'reset') AS usage, count(*) FILTER (WHERE kind = 'denied') AS denials
       FROM usage_events WHERE subject_id = $1 AND occurred_at >= $2 GROUP BY 1, 2`,
    [subject, new Date(from).toISOString()],
  );

async function main(): Promise<void> {
  await recreateDatabase(DATABASE_URL);
  const pool = createPool(DATABASE_URL, { max: 4, statementTimeoutMs: 0, applicationName: 'quotagate-bench-history' });
  teardown.push(() => pool.end());
  console.log(`database ${DATABASE_URL}: ${CONFIG.events.toLocaleString('en-US')} events over ${CONFIG.subjects.toLocaleString('en-US')} subjects`);

  let started = performance.now();
  await fillLedger(pool);
  const fillSeconds = (performance.now() - started) / 1000;
  started = performance.now();
  const rollupRows = await rebuildRollups(pool);
  const backfillSeconds = (performance.now() - started) / 1000;
  await pool.query('ANALYZE usage_rollups');
  const count = async (sql: string, params: unknown[] = []) => Number((await pool.query<{ n: string }>(sql, params)).rows[0]!.n);
  const heavyEvents = await count('SELECT count(*) AS n FROM usage_events WHERE subject_id = $1', [HEAVY]);
  const typicalEvents = await count('SELECT count(*) AS n FROM usage_events WHERE subject_id = $1', [TYPICAL]);
  console.log(`ledger filled in ${fillSeconds.toFixed(1)} s; backfill: ${rollupRows.toLocaleString('en-US')} rollup rows in ${backfillSeconds.toFixed(1)} s`);

  const now = Date.now();
  const today = now - (now % DAY);
  const from = today - 29 * DAY;
  const history = new UsageHistory(pool, systemClock, createLogger('silent'));
  const usage = usageOf(now);
  const ref = (id: string) => ({ id, plan: 'test', anchor: null });
  const counters = ['gens', 'tokens'];
  const queries: [string, () => Promise<unknown>][] = [
    [`30-day history, heavy subject (${heavyEvents.toLocaleString('en-US')} events): UsageHistory.history`, () => history.history(ref(HEAVY), usage, 30)],
    ['… the same days scanned from usage_events (baseline)', () => scanLedger(pool, HEAVY, from)],
    [`30-day history, typical subject (${typicalEvents.toLocaleString('en-US')} events): UsageHistory.history`, () => history.history(ref(TYPICAL), usage, 30)],
    ['… the same days scanned from usage_events (baseline)', () => scanLedger(pool, TYPICAL, from)],
    ['forecast basis of the heavy subject (14 days of rollups; once a day per subject and gateway)', () => readRollups(pool, [HEAVY], today - 14 * DAY, today)],
    ['overview: top consumers over 30 days, every subject', () => topConsumers(pool, counters, from, 10)],
    ['overview: denials per day over 30 days, every subject', () => denialTotals(pool, from, 30, now - DAY)],
    [
      'projected-exceed job: counters used in the last day',
      () => pool.query(`SELECT DISTINCT subject_id, metric FROM usage_rollups WHERE hour >= $1 AND metric = ANY($2)`, [new Date(now - DAY).toISOString(), counters]),
    ],
  ];
  const timings: ReportInput['queries'] = [];
  for (const [what, work] of queries) {
    const t = await timed(work);
    timings.push({ what, ...t });
    console.log(`${what}: p50 ${t.p50.toFixed(2)} ms, p95 ${t.p95.toFixed(2)} ms`);
  }
  const figures: ReportInput = {
    run: runInfo(),
    postgres: await postgresVersion(pool),
    events: CONFIG.events,
    subjects: CONFIG.subjects,
    repeat: CONFIG.repeat,
    fillSeconds,
    rollupRows,
    backfillSeconds,
    queries: timings,
  };
  console.log(`saved ${saveFigures('history', figures)}; rendered ${renderResults()}`);
}

runBenchmark(main, teardown.run);
