import type { MetricKind, Policy } from '../config/policy.js';
import type { Clock } from '../lib/clock.js';
import { periodAt, type Period } from '../lib/period.js';
import type { HoldLine } from '../redis/scripts/hold-record.js';
import type { LineUsage } from '../redis/scripts/reply.js';
import { EngineInputError } from './errors.js';
import { limitOf } from './limits.js';
import type { MetricUsage, SubjectRef } from './types.js';
import { remainingUnits } from './usage-status.js';

/** The longest billing period (31 days); bounds a counter's life when only its start is known. */
const MAX_PERIOD_MS = 31 * 86_400_000;

/** One metric of one subject as the policy makes it: its limit, and the period a change falls in. */
export interface Line {
  metric: string;
  kind: MetricKind;
  limit: number | null;
  periodStart: number | null;
  periodEnd: number | null;
  /**
   * How long the usage key lives from now (ms), applied by the scripts on Redis's own clock:
   * the time left in its period plus grace. 0 = never (gauges).
   */
  ttlMs: number;
}

/** Policy → lines: which period, limit and key lifetime a metric of a subject has now. */
export class MetricLines {
  /** The period `periodOf` found last, with its anchor. */
  private lastPeriod: (Period & { anchor: number | null }) | undefined;

  constructor(
    private readonly policy: Policy,
    private readonly clock: Clock,
    /** How long a counter outlives its period. */
    private readonly counterGraceMs: number,
  ) {}

  /** The metric as charged now. */
  current(subject: SubjectRef, metric: string, now: number): Line {
    const def = this.policy.metrics[metric];
    if (!def) throw new EngineInputError(`unknown metric "${metric}"`);
    const limit = limitOf(this.policy, subject, metric);
    if (def.kind === 'gauge') return { metric, kind: 'gauge', limit, periodStart: null, periodEnd: null, ttlMs: 0 };
    const period = this.periodOf(now, subject.anchor);
    return { metric, kind: 'counter', limit, periodStart: period.start, periodEnd: period.end, ttlMs: this.counterTtl(period.end, now) };
  }

  /**
   * A held line addresses the period it was charged in, which may no longer be current.
   * `anchor` (when the subject is known) gives that period's end for `resetsAt`.
   */
  held(l: HoldLine, limit: number | null, anchor: number | null | undefined): Line {
    const counter = l.kind === 'counter';
    return {
      metric: l.metric,
      kind: l.kind,
      limit,
      periodStart: l.periodStart,
      periodEnd: counter && anchor !== undefined ? this.periodOf(l.periodStart!, anchor).end : null,
      // Only a hydration writes this; the exact period end needs the anchor, the bound does not.
      ttlMs: counter ? this.counterTtl(l.periodStart! + MAX_PERIOD_MS, this.clock.now()) : 0,
    };
  }

  /**
   * A counter lives until its period ends plus grace. Sent as a TTL, not an instant: Redis
   * counts it on its own clock, so a caller whose clock is off (or a test clock in another
   * month) can never write a key that Redis deletes at once.
   */
  private counterTtl(periodEnd: number, now: number): number {
    return Math.max(0, periodEnd - now) + this.counterGraceMs;
  }

  /**
   * `periodAt`, remembering the last answer: nearly every decision falls in the same period
   * as the one before (calendar months for most subjects), and the periods of one anchor
   * never overlap, so a remembered period that holds `at` is the answer. periodAt's Date
   * arithmetic showed in profiles of the decision path.
   */
  private periodOf(at: number, anchor: number | null): Period {
    const last = this.lastPeriod;
    if (last !== undefined && last.anchor === anchor && at >= last.start && at < last.end) return last;
    const period = periodAt(at, anchor);
    this.lastPeriod = { ...period, anchor };
    return period;
  }
}

/** Each line's usage as a script replied it, with the line's limit and period. */
export function usageOf(lines: readonly Line[], values: readonly LineUsage[]): MetricUsage[] {
  return lines.map((line, i) => {
    const { used, grants } = values[i]!;
    return {
      metric: line.metric,
      kind: line.kind,
      limit: line.limit,
      used,
      remaining: line.limit === null ? null : remainingUnits(line.kind, line.limit, used, grants),
      grantBalance: grants,
      periodStart: line.periodStart,
      resetsAt: line.periodEnd,
    };
  });
}
