import type { Queryable } from '../db/transaction.js';

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
