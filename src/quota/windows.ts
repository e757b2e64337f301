import { windowsOf, type WindowName } from '../config/policy.js';
import type { ConsumeLine } from '../redis/scripts/consume.js';
import type { LineUsage } from '../redis/scripts/reply.js';
import { planOf } from './limits.js';
import type { Line } from './metric-lines.js';
import type { Policy } from '../config/policy.js';
import type { SubjectRef, WindowUsage } from './types.js';

/** A window keeps its key this long past its end, so a late decision still finds it. */
const WINDOW_GRACE_MS = 1_000;

/** One window of a metric a request costs, as the consume script checks it. */
export interface WindowLine {
  /** The charge (metric line) it belongs to, 0-based. */
  of: number;
  window: WindowName;
  limit: number;
  start: number;
  end: number;
}

/**
 * The windows (minute, hour, day) the subject's plan limits each charged counter in, fixed
 * and aligned to UTC (a minute window starts on the minute). Overrides change the period's
 * limit only: windows are the plan's.
 */
export function windowLines(policy: Policy, subject: SubjectRef, lines: readonly Line[], now: number): WindowLine[] {
  const plan = planOf(policy, subject);
  return lines.flatMap((line, of) => {
    if (line.kind !== 'counter') return [];
    return windowsOf(plan.limits[line.metric]).map((w) => {
      const start = now - (now % w.ms);
      return { of, window: w.window, limit: w.limit, start, end: start + w.ms };
    });
  });
}

/** The consume script's line for a window: the metric's amount, its own key and limit, never held. */
export function windowConsumeLine(w: WindowLine, line: Line, amount: number, now: number): ConsumeLine {
  return {
    metric: line.metric,
    kind: 'counter',
    periodStart: line.periodStart,
    limit: w.limit,
    amount,
    ttlMs: w.end - now + WINDOW_GRACE_MS,
    held: false,
    window: { name: w.window, start: w.start },
  };
}

export function windowUsage(w: WindowLine, value: LineUsage): WindowUsage {
  return { window: w.window, limit: w.limit, used: value.used, remaining: Math.max(0, w.limit - value.used), windowStart: w.start, resetsAt: w.end };
}
