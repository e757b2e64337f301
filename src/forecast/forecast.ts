import type { Period } from '../lib/period.js';
import { DAY_MS, HOUR_MS, utcDayStart } from '../lib/utc-days.js';

/**
 * Where a counter is heading by the end of its period: pure math, no I/O, `now` passed in.
 *
 * The method (README "Forecasts"): a line fitted through the counter's usage per complete
 * UTC day over the last FORECAST_BASIS_DAYS days (fewer for a subject whose first usage is
 * more recent: days before it are not data). The line passes through the days' mean, so
 * every unit used counts, bursts included; its slope is the median of the slopes between
 * every two of those days (Theil–Sen), so one burst raises the level without tilting the
 * trend. It is followed forward from now, never below 0, and its trend at most as many
 * days past the fitted days as they span, then held flat, so two weeks of growth are not
 * extrapolated for months. The projection adds the line's usage from now to the period's
 * end to what is used now; the limit is reached when that passes used + remaining (the
 * plan allowance left plus usable grants). Usage per day is net of refunds and releases
 * and leaves resets out, so a reset lowers what is used now, not the pace. Fewer than
 * MIN_BASIS_DAYS days of data, or an unlimited counter, give no forecast. Every figure is
 * an estimate.
 */

export const FORECAST_BASIS_DAYS = 14;
export const MIN_BASIS_DAYS = 3;
/** Named in every forecast, so a client knows how it was made. */
export const FORECAST_METHOD = 'daily-mean-median-slope-14d';

/** Integration step: exact for the straight parts of the line, within an hour at its kinks. */
const STEP = HOUR_MS;

export interface ForecastInput {
  now: number;
  /** The counter's current period. */
  period: Period;
  /** As GET /v1/usage reports them: used in the period, and units left (plan allowance + usable grants; null: unlimited). */
  used: number;
  remaining: number | null;
  /** Usage per complete UTC day, oldest first, ending with the day before `now`'s. */
  daily: readonly number[];
}

export interface Forecast {
  /** Days the line was fitted through. */
  basisDays: number;
  /** Units per day the line gives at `now`. */
  dailyRate: number;
  /** Used at the period's end. */
  projectedUsed: number;
  /** projectedUsed / (used + remaining), in %, as GET /v1/usage's percent. */
  projectedPercent: number;
  /** When remaining is projected to reach 0, if before the period ends (ms); null otherwise, also when it already has. */
  limitReachedAt: number | null;
  /** Units per day that last until the period ends. */
  dailyBudget: number;
  /** The projected usage at each UTC midnight until the period ends, and at its end (for charts). */
  path: { at: number; used: number }[];
}

const round1 = (x: number) => Math.round(x * 10) / 10;
const floor1 = (x: number) => Math.floor(x * 10) / 10;

const median = (values: number[]) => {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** The line through the days (day i at its middle, i + 0.5): y = a + b x, through the mean with the median pairwise slope. */
function fitLine(y: readonly number[]): { a: number; b: number } {
  const n = y.length;
  const slopes: number[] = [];
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) slopes.push((y[j]! - y[i]!) / (j - i));
  const b = median(slopes);
  const meanY = y.reduce((s, v) => s + v, 0) / n;
  return { a: meanY - b * (n / 2), b };
}

/** The counter's forecast, or null when there is none to make (unlimited, too little data). */
export function forecastCounter(input: ForecastInput): Forecast | null {
  const { now, period, used, remaining } = input;
  if (remaining === null || now >= period.end) return null;
  const first = input.daily.findIndex((units) => units !== 0);
  if (first < 0) return null;
  const basis = input.daily.slice(Math.max(first, input.daily.length - FORECAST_BASIS_DAYS));
  if (basis.length < MIN_BASIS_DAYS) return null;

  const n = basis.length;
  const { a, b } = fitLine(basis);
  const basisStart = utcDayStart(now) - n * DAY_MS;
  const rateAt = (t: number) => Math.max(0, a + b * Math.min((t - basisStart) / DAY_MS, 2 * n));

  let added = 0;
  let limitReachedAt: number | null = null;
  const path: Forecast['path'] = [];
  // Steps end on whole hours, so every midnight is a step's end.
  for (let t = now; t < period.end;) {
    const next = Math.min(t - (t % STEP) + STEP, period.end);
    const units = ((rateAt(t) + rateAt(next)) / 2) * ((next - t) / DAY_MS);
    if (limitReachedAt === null && remaining > 0 && added + units >= remaining) {
      limitReachedAt = Math.round(t + ((remaining - added) / units) * (next - t));
    }
    added += units;
    t = next;
    if (t % DAY_MS === 0 || t === period.end) path.push({ at: t, used: Math.round(used + added) });
  }

  const projectedUsed = Math.round(used + added);
  const capacity = used + remaining;
  return {
    basisDays: n,
    dailyRate: round1(rateAt(now)),
    projectedUsed,
    projectedPercent: capacity === 0 ? 100 : round1((projectedUsed / capacity) * 100),
    limitReachedAt,
    dailyBudget: floor1(remaining / ((period.end - now) / DAY_MS)),
    path,
  };
}
