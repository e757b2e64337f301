import type { Queryable } from '../../db/transaction.js';
import { isoOrNull } from '../../lib/iso-time.js';
import { DAY_MS } from '../../lib/utc-days.js';

/** How many recent drifts the overview lists. */
const RECENT_DRIFTS = 10;

export interface DriftStatus {
  /** The newest reconciliation run; null before the first. */
  last_run: { id: number; started_at: string; finished_at: string | null; status: string; trigger: string; stats: Record<string, unknown> } | null;
  /** Drifts found by the runs of the last 7 days, by action (repaired, reported). */
  week: Record<string, number>;
  /** The newest drifts of those runs. */
  recent: { run_id: number; subject: string; metric: string; redis_value: number | null; ledger_value: number; action: string; at: string }[];
}

/** Reconciliation at a glance: the last run, and what the week's runs found. */
export async function driftStatus(db: Queryable, now: number): Promise<DriftStatus> {
  const weekAgo = new Date(now - 7 * DAY_MS).toISOString();
  const [runs, week, recent] = await Promise.all([
    db.query<{ id: string; started_at: Date; finished_at: Date | null; status: string; trigger: string; stats: Record<string, unknown> }>(
      'SELECT id, started_at, finished_at, status, trigger, stats FROM reconciliation_runs ORDER BY id DESC LIMIT 1',
    ),
    db.query<{ action: string; n: string }>(
      `SELECT d.action, count(*) AS n FROM reconciliation_drifts d JOIN reconciliation_runs r ON r.id = d.run_id
        WHERE r.started_at >= $1 GROUP BY d.action`,
      [weekAgo],
    ),
    db.query<{ run_id: string; subject_id: string; metric: string; redis_value: string | null; ledger_value: string; action: string; at: Date }>(
      `SELECT d.run_id, d.subject_id, d.metric, d.redis_value, d.ledger_value, d.action, d.at
         FROM reconciliation_drifts d JOIN reconciliation_runs r ON r.id = d.run_id
        WHERE r.started_at >= $1 ORDER BY d.id DESC LIMIT $2`,
      [weekAgo, RECENT_DRIFTS],
    ),
  ]);
  const run = runs.rows[0];
  return {
    last_run: run
      ? { id: Number(run.id), started_at: run.started_at.toISOString(), finished_at: isoOrNull(run.finished_at), status: run.status, trigger: run.trigger, stats: run.stats }
      : null,
    week: Object.fromEntries(week.rows.map((r) => [r.action, Number(r.n)])),
    recent: recent.rows.map((d) => ({
      run_id: Number(d.run_id),
      subject: d.subject_id,
      metric: d.metric,
      redis_value: d.redis_value === null ? null : Number(d.redis_value),
      ledger_value: Number(d.ledger_value),
      action: d.action,
      at: d.at.toISOString(),
    })),
  };
}
