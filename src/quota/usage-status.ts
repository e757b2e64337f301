import type { MetricKind } from '../config/policy.js';
import type { MetricUsage } from './types.js';

/**
 * Units that still fit (as lua/includes/usage.lua's usage_room decides): counters have the
 * plan allowance left plus usable grants; gauges have grants as extra ceiling.
 */
export function remainingUnits(kind: MetricKind, limit: number, used: number, grantBalance: number): number {
  return kind === 'counter' ? Math.max(0, limit - used) + grantBalance : Math.max(0, limit + grantBalance - used);
}

export type UsageStatus = 'ok' | 'warning' | 'critical' | 'exceeded';

/** The thresholds of SPEC's status: ok < 80 % ≤ warning < 95 % ≤ critical < 100 % ≤ exceeded. */
export const STATUS_THRESHOLDS: readonly [number, UsageStatus][] = [
  [100, 'exceeded'],
  [95, 'critical'],
  [80, 'warning'],
];

/**
 * How much of what the subject may use is used: used / (used + remaining), where remaining
 * includes usable grants. Unlimited metrics have no percentage and are always ok.
 */
export function usageStatus(m: MetricUsage): { percent: number | null; status: UsageStatus } {
  if (m.limit === null || m.remaining === null) return { percent: null, status: 'ok' };
  const capacity = m.used + m.remaining;
  const percent = capacity === 0 ? 100 : Math.round((m.used / capacity) * 1000) / 10;
  const status = STATUS_THRESHOLDS.find(([threshold]) => percent >= threshold)?.[1] ?? 'ok';
  return { percent, status };
}
