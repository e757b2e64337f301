import type { Queryable } from '../db/transaction.js';
import { GAUGE_PERIOD } from './pg-hydrator.js';

/** A counter of usage_counters: a subject's metric in one period (null: a gauge's level). */
export interface CounterKey {
  subjectId: string;
  metric: string;
  periodStart: number | null;
}

/** usage_counters.value of each key, in the keys' order; 0 where there is no row. */
export async function readCounterValues(db: Queryable, keys: readonly CounterKey[]): Promise<number[]> {
  const values = new Array<number>(keys.length).fill(0);
  if (keys.length === 0) return values;
  const { rows } = await db.query<{ ord: string; value: string }>(
    `SELECT u.ord, c.value
       FROM unnest($1::text[], $2::text[], $3::timestamptz[]) WITH ORDINALITY AS u(subject_id, metric, period_start, ord)
       JOIN usage_counters c USING (subject_id, metric, period_start)`,
    [keys.map((k) => k.subjectId), keys.map((k) => k.metric), keys.map((k) => (k.periodStart === null ? GAUGE_PERIOD : new Date(k.periodStart).toISOString()))],
  );
  for (const r of rows) values[Number(r.ord) - 1] = Number(r.value);
  return values;
}
