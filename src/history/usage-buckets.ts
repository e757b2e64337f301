import { counterKey, type RollupRow } from './rollup-rows.js';

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
 * ledger's running total of the period holding it (usage_counters, `counters` by
 * counterKey) less the rollups that came after it. `rows` (of `metric`) must cover every
 * hour from the earliest instant (hour-aligned, or now) to now.
 */
export function levelsAt(
  metric: string,
  rows: readonly RollupRow[],
  counters: ReadonlyMap<string, number>,
  at: readonly number[],
  periodOf: (t: number) => number | null,
): number[] {
  return at.map((t) => {
    const period = periodOf(t);
    let level = counters.get(counterKey(metric, period)) ?? 0;
    for (const r of rows) if (r.periodStart === period && r.hour >= t) level -= r.net;
    return level;
  });
}
