import type { Queryable } from '../db/transaction.js';
import { GAUGE_PERIOD } from '../ledger/pg-hydrator.js';

/** One row of usage_rollups: a subject's metric in one UTC hour and period. */
export interface RollupRow {
  subjectId: string;
  /** Start of the UTC hour, ms. */
  hour: number;
  metric: string;
  /** Counter period start (ms); null for gauges. */
  periodStart: number | null;
  /** SUM(delta) of the hour's usage-moving events. */
  net: number;
  /** The part of `net` made by resets (≤ 0). */
  reset: number;
  /** Charges allowed (consume events). */
  charges: number;
  /** Quota denials. */
  denials: number;
}

/** The rollups of these subjects in the hours [from, to): one index range per subject. */
export async function readRollups(db: Queryable, subjectIds: readonly string[], from: number, to: number): Promise<RollupRow[]> {
  const { rows } = await db.query<{ subject_id: string; hour: string; metric: string; period: string | null; net: string; reset: string; charges: string; denials: string }>(
    `SELECT subject_id, extract(epoch FROM hour) * 1000 AS hour, metric,
            CASE WHEN period_start = '-infinity' THEN NULL ELSE extract(epoch FROM period_start) * 1000 END AS period,
            net, reset, charges, denials
       FROM usage_rollups
      WHERE subject_id = ANY($1::text[]) AND hour >= $2 AND hour < $3`,
    [subjectIds, new Date(from).toISOString(), new Date(to).toISOString()],
  );
  return rows.map((r) => ({
    subjectId: r.subject_id,
    hour: Number(r.hour),
    metric: r.metric,
    periodStart: r.period === null ? null : Number(r.period),
    net: Number(r.net),
    reset: Number(r.reset),
    charges: Number(r.charges),
    denials: Number(r.denials),
  }));
}

/** `metric|period ms` (`gauge` for gauges): a key of CounterValues. */
export const counterKey = (metric: string, periodStart: number | null): string => `${metric}|${periodStart ?? 'gauge'}`;

/** usage_counters of one subject for these metric periods (null: a gauge's level), by counterKey; missing rows are 0. */
export async function readCounters(db: Queryable, subjectId: string, keys: readonly { metric: string; periodStart: number | null }[]): Promise<Map<string, number>> {
  const { rows } = await db.query<{ ord: string; value: string }>(
    `SELECT u.ord, c.value
       FROM unnest($2::text[], $3::timestamptz[]) WITH ORDINALITY AS u(metric, period_start, ord)
       JOIN usage_counters c ON c.subject_id = $1 AND c.metric = u.metric AND c.period_start = u.period_start`,
    [subjectId, keys.map((k) => k.metric), keys.map((k) => (k.periodStart === null ? GAUGE_PERIOD : new Date(k.periodStart).toISOString()))],
  );
  const values = new Map(keys.map((k) => [counterKey(k.metric, k.periodStart), 0]));
  for (const r of rows) {
    const k = keys[Number(r.ord) - 1]!;
    values.set(counterKey(k.metric, k.periodStart), Number(r.value));
  }
  return values;
}
