import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { FORECAST_BASIS_DAYS, forecastCounter, type Forecast } from '../forecast/forecast.js';
import { readCounterValues, type CounterKey } from '../ledger/counter-values.js';
import type { Clock } from '../lib/clock.js';
import { periodAt } from '../lib/period.js';
import { TtlCache } from '../lib/ttl-cache.js';
import { DAY_MS, HOUR_MS, utcDayStart } from '../lib/utc-days.js';
import { fromPostgres } from '../observability/backend-error.js';
import type { MetricUsage, SubjectRef } from '../quota/types.js';
import { readRollups } from './rollup-rows.js';
import { forecastBasis, levelsAt, usageBuckets, type UsageBucket } from './usage-buckets.js';

/** The longest history one request may ask for. */
export const MAX_HISTORY_DAYS = 90;
/** Subjects whose forecast basis is kept in memory (per gateway process). */
const BASIS_CACHE_ENTRIES = 10_000;
/** How long a basis is reused; it changes only when a day completes, but a late flush may still add to yesterday. */
const BASIS_TTL_MS = 10 * 60_000;
/** After Postgres failed, how long forecasts are left out before it is asked again. */
const FAILED_BASIS_TTL_MS = 30_000;

export interface MetricHistory {
  /** The metric's live usage (from the engine), as GET /v1/usage reports it. */
  usage: MetricUsage;
  /** One bucket per UTC day, the last one today so far; `level` is the counter (period-to-date) or gauge level at the day's end (now for today). */
  daily: (UsageBucket & { level: number })[];
  /** Today's UTC hours so far. */
  hourly: UsageBucket[];
  forecast: Forecast | null;
}

export interface SubjectHistory {
  /** Start of the first day. */
  from: number;
  now: number;
  metrics: MetricHistory[];
}

/** A counter's forecast from its live usage and its daily basis; none for gauges. */
function forecastOf(m: MetricUsage, daily: readonly number[], now: number): Forecast | null {
  if (m.kind !== 'counter' || m.periodStart === null || m.resetsAt === null) return null;
  return forecastCounter({ now, period: { start: m.periodStart, end: m.resetsAt }, used: m.used, remaining: m.remaining, daily });
}

/**
 * Usage history and forecasts of a subject, read from usage_rollups (never from the
 * ledger itself): a history is one index range of the subject's rows, whatever the
 * number of events. Live figures (used, remaining) come from the engine, as in GET /v1/usage.
 */
export class UsageHistory {
  /** subject + UTC day → daily usage of the basis days, by metric; null after a failed read. */
  private readonly bases = new TtlCache<string, Map<string, number[]> | null>(BASIS_CACHE_ENTRIES);

  constructor(
    private readonly pool: Pool,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  /**
   * The forecast of each of `usage`'s metrics (null for gauges, unlimited counters and too
   * little data). Never fails: when Postgres does not answer there are no forecasts, and
   * usage is still answered. The basis is read once per subject and day, per process.
   */
  async forecasts(subject: SubjectRef, usage: readonly MetricUsage[]): Promise<(Forecast | null)[]> {
    const now = this.clock.now();
    const today = utcDayStart(now);
    const key = `${subject.id}\u0000${today}`;
    let basis = this.bases.get(key);
    if (basis === undefined) {
      try {
        const rows = await readRollups(this.pool, [subject.id], today - FORECAST_BASIS_DAYS * DAY_MS, today);
        // Every metric with rows; one without has used nothing, which makes no forecast either.
        basis = new Map(
          [...new Set(rows.map((r) => r.metric))].map((metric) => [
            metric,
            forecastBasis(
              rows.filter((r) => r.metric === metric),
              today,
            ),
          ]),
        );
        this.bases.set(key, basis, Math.min(BASIS_TTL_MS, today + DAY_MS - now));
      } catch (err) {
        this.logger.warn({ err: (err as Error).message, subject: subject.id }, 'could not read the usage history; answering usage without forecasts');
        basis = null;
        this.bases.set(key, basis, FAILED_BASIS_TTL_MS);
      }
    }
    return usage.map((m) => (basis === null ? null : forecastOf(m, basis.get(m.metric) ?? [], now)));
  }

  /** The last `days` UTC days (today the last) of each of `usage`'s metrics, today's hours, levels and forecasts; fails (tagged) when Postgres does. */
  async history(subject: SubjectRef, usage: readonly MetricUsage[], days: number): Promise<SubjectHistory> {
    const now = this.clock.now();
    const today = utcDayStart(now);
    const from = today - (days - 1) * DAY_MS;
    const rows = await fromPostgres(readRollups(this.pool, [subject.id], Math.min(from, today - FORECAST_BASIS_DAYS * DAY_MS), today + DAY_MS));
    // A day's level is read at its end (now for today), in the period holding its last moment.
    const ends = Array.from({ length: days }, (_, i) => Math.min(from + (i + 1) * DAY_MS, now));
    const periodOf = (m: MetricUsage) => (t: number) => (m.kind === 'gauge' ? null : periodAt(t - 1, subject.anchor).start);
    const counterId = (metric: string, period: number | null) => `${metric}|${period}`;
    const wanted = new Map<string, CounterKey>();
    for (const m of usage) for (const t of ends) wanted.set(counterId(m.metric, periodOf(m)(t)), { subjectId: subject.id, metric: m.metric, periodStart: periodOf(m)(t) });
    const keys = [...wanted.values()];
    const values = await fromPostgres(readCounterValues(this.pool, keys));
    const counters = new Map(keys.map((k, i) => [counterId(k.metric, k.periodStart), values[i]!]));

    return {
      from,
      now,
      metrics: usage.map((m) => {
        const mine = rows.filter((r) => r.metric === m.metric);
        const levels = levelsAt(mine, ends, periodOf(m), (period) => counters.get(counterId(m.metric, period)) ?? 0);
        return {
          usage: m,
          daily: usageBuckets(mine, from, DAY_MS, days).map((b, i) => ({ ...b, level: levels[i]! })),
          hourly: usageBuckets(mine, today, HOUR_MS, Math.floor((now - today) / HOUR_MS) + 1),
          forecast: forecastOf(m, forecastBasis(mine, today), now),
        };
      }),
    };
  }
}
