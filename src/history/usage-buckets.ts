import { FORECAST_BASIS_DAYS } from '../forecast/forecast.js';
import type { RollupRow } from './rollup-rows.js';
import { DAY_MS } from '../lib/utc-days.js';

/** Usage in one stretch of time (a UTC day or hour). */
export interface UsageBucket {
  /** Start, ms. */
  start: number;
  /** Units used, net of refunds and releases, resets left out (what the forecast's pace is made of). */
  usage: number;
  /** Units removed by resets (≥ 0). */
  reset: number;
  /** Charges allowed. */
  charges: number;
  /** Quota denials. */
  denials: number;
}

/** One metric's rollups summed into `count` buckets of `size` ms from `from` (every period together). */
export function usageBuckets(rows: readonly RollupRow[], from: number, size: number, count: number): UsageBucket[] {
  const buckets = Array.from({ length: count }, (_, i): UsageBucket => ({ start: from + i * size, usage: 0, reset: 0, charges: 0, denials: 0 }));
  for (const r of rows) {
    const b = buckets[Math.floor((r.hour - from) / size)];
    if (!b) continue;
    b.usage += r.net - r.reset;
    b.reset -= r.reset;
    b.charges += r.charges;
    b.denials += r.denials;
  }
  return buckets;
}

/**
 * The counter (period-to-date) or gauge level right before each instant of `at`: the
 * ledger's running total of the period holding it (usage_counters, `counterOf(period)`)
 * less the rollups that came after it. `rows` (one metric's) must cover every hour from
 * the earliest instant (hour-aligned, or now) to now.
 */
export function levelsAt(rows: readonly RollupRow[], at: readonly number[], periodOf: (t: number) => number | null, counterOf: (period: number | null) => number): number[] {
  return at.map((t) => {
    const period = periodOf(t);
    let level = counterOf(period);
    for (const r of rows) if (r.periodStart === period && r.hour >= t) level -= r.net;
    return level;
  });
}

/** What a forecast is fitted through: one metric's usage per complete UTC day, the FORECAST_BASIS_DAYS days before `today`. */
export const forecastBasis = (rows: readonly RollupRow[], today: number): number[] =>
  usageBuckets(rows, today - FORECAST_BASIS_DAYS * DAY_MS, DAY_MS, FORECAST_BASIS_DAYS).map((b) => b.usage);
