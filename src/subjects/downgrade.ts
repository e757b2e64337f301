import type { Policy } from '../config/policy.js';
import { limitOf } from '../quota/limits.js';
import type { MetricUsage, SubjectRef } from '../quota/types.js';

/** A gauge above what the new plan allows: what must go before the downgrade can apply. */
export interface DowngradeBlocker {
  metric: string;
  level: number;
  /** The new plan's limit of the metric (after the subject's overrides). */
  limit: number;
  /** Usable grant ceiling, which still counts on the new plan. */
  grants: number;
  /** How many must go: level - (limit + grants). */
  excess: number;
  /** e.g. "delete 2 projects". */
  message: string;
}

/**
 * SPEC invariant 11: gauges above the new limit block a plan change (counters do not:
 * usage above a lower limit stays and later use is denied until the next period).
 * `current` is the subject's usage now, read from the engine.
 */
export function downgradeBlockers(policy: Policy, next: SubjectRef, current: readonly MetricUsage[]): DowngradeBlocker[] {
  return current.flatMap((m) => {
    if (m.kind !== 'gauge') return [];
    const limit = limitOf(policy, next, m.metric);
    if (limit === null) return [];
    const excess = m.used - (limit + m.grantBalance);
    return excess > 0 ? [{ metric: m.metric, level: m.used, limit, grants: m.grantBalance, excess, message: `delete ${excess} ${m.metric}` }] : [];
  });
}
