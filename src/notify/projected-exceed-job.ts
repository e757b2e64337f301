import { forecastJson } from '../forecast/forecast-json.js';
import { FORECAST_BASIS_DAYS, forecastCounter } from '../forecast/forecast.js';
import { readRollups } from '../history/rollup-rows.js';
import { forecastBasis } from '../history/usage-buckets.js';
import { readCounterValues } from '../ledger/counter-values.js';
import { periodAt } from '../lib/period.js';
import { limitOf } from '../quota/limits.js';
import { remainingUnits } from '../quota/usage-status.js';
import type { JobKind, WorkerContext } from '../jobs/job.js';
import { grantBalances, loadSubjects, pairKey } from './subject-limits.js';
import { recordNotifications, type NotificationInput } from './webhook-job.js';
import { DAY_MS, utcDayStart } from '../lib/utc-days.js';

export const PROJECTED_EXCEED_JOB = 'projected-exceed';
/** How often counters are checked. */
const CHECK_EVERY_MS = 15 * 60_000;
/**
 * Counters with usage (or denials) within this long before a check are checked: a day,
 * so a counter used yesterday is checked once its day is complete and part of the pace,
 * and a failed run or a worker that was down misses nobody. A counter nobody uses does
 * not come closer to its limit.
 */
const ACTIVE_WINDOW_MS = DAY_MS;
/** Counters checked per round of queries. */
const CHUNK = 500;

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * JobKind `projected-exceed`, every 15 minutes: forecasts (src/forecast) every counter
 * used lately, from its ledger (usage_counters, grants, usage_rollups), and records a
 * `projected_exceed` notification (webhook `usage.projected_exceed`) for each one projected
 * to run out before its period ends. The notifications table's unique index makes that
 * once per subject, metric and period, across runs and workers. A counter already used up
 * is not projected (its 100 % usage.threshold said so). Returns the notifications recorded.
 */
export function projectedExceedJob(ctx: WorkerContext): JobKind {
  async function checkChunk(pairs: readonly { subjectId: string; metric: string }[], now: number): Promise<NotificationInput[]> {
    const subjects = await loadSubjects(
      ctx.pool,
      pairs.map((p) => p.subjectId),
    );
    const targets = pairs.flatMap((p) => {
      const subject = subjects.get(p.subjectId);
      const limit = subject ? limitOf(ctx.policy, subject, p.metric) : null;
      return subject && limit !== null ? [{ subject, metric: p.metric, limit, period: periodAt(now, subject.anchor) }] : [];
    });
    if (targets.length === 0) return [];
    const today = utcDayStart(now);
    const [used, grants, rows] = await Promise.all([
      readCounterValues(
        ctx.pool,
        targets.map((t) => ({ subjectId: t.subject.id, metric: t.metric, periodStart: t.period.start })),
      ),
      grantBalances(
        ctx.pool,
        targets.map((t) => ({ subjectId: t.subject.id, metric: t.metric })),
        now,
      ),
      readRollups(
        ctx.pool,
        targets.map((t) => t.subject.id),
        today - FORECAST_BASIS_DAYS * DAY_MS,
        today,
      ),
    ]);
    return targets.flatMap((t, i) => {
      const grantBalance = grants.get(pairKey(t.subject.id, t.metric)) ?? 0;
      const remaining = remainingUnits('counter', t.limit, used[i]!, grantBalance);
      const daily = forecastBasis(
        rows.filter((r) => r.subjectId === t.subject.id && r.metric === t.metric),
        today,
      );
      const forecast = forecastCounter({ now, period: t.period, used: used[i]!, remaining, daily });
      if (forecast?.limitReachedAt == null) return [];
      return [
        {
          kind: 'projected_exceed' as const,
          subjectId: t.subject.id,
          metric: t.metric,
          periodStart: t.period.start,
          payload: {
            subject_id: t.subject.id,
            plan: t.subject.plan,
            metric: t.metric,
            used: used[i]!,
            limit: t.limit,
            remaining,
            grant_balance: grantBalance,
            period_start: iso(t.period.start),
            resets_at: iso(t.period.end),
            forecast: forecastJson(forecast),
          },
        },
      ];
    });
  }

  return {
    name: PROJECTED_EXCEED_JOB,
    run: async () => {
      const now = ctx.clock.now();
      const counters = Object.keys(ctx.policy.metrics).filter((m) => ctx.policy.metrics[m]!.kind === 'counter');
      const { rows } = await ctx.pool.query<{ subject_id: string; metric: string }>(
        `SELECT DISTINCT subject_id, metric FROM usage_rollups WHERE hour >= $1 AND hour <= $2 AND metric = ANY($3::text[])`,
        [iso(now - ACTIVE_WINDOW_MS), iso(now), counters],
      );
      let recorded = 0;
      for (let i = 0; i < rows.length; i += CHUNK) {
        const pairs = rows.slice(i, i + CHUNK).map((r) => ({ subjectId: r.subject_id, metric: r.metric }));
        const created = await recordNotifications(ctx, await checkChunk(pairs, now));
        recorded += created.filter((id) => id !== null).length;
      }
      return recorded;
    },
    schedules: [{ id: PROJECTED_EXCEED_JOB, job: PROJECTED_EXCEED_JOB, everyMs: CHECK_EVERY_MS }],
  };
}
