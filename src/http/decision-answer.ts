import type { Decision, MetricUsage } from '../quota/types.js';
import { ProblemError } from './problem.js';
import { rateLimitHeaders } from './rate-limit-headers.js';
import { isoOrNull } from '../lib/iso-time.js';

/** The RateLimit fields for whatever limits a decision reports. */
export function decisionHeaders(decision: Decision, now: number): Record<string, string> {
  switch (decision.outcome) {
    case 'allowed':
      return rateLimitHeaders(decision.rate, decision.metrics, now);
    case 'denied':
      return rateLimitHeaders(decision.rate, decision.reason === 'quota' ? decision.metrics : [], now);
    case 'replayed':
      return rateLimitHeaders(null, decision.original.metrics, now);
    default:
      return {};
  }
}

export function usageJson(m: MetricUsage) {
  return {
    metric: m.metric,
    kind: m.kind,
    limit: m.limit,
    used: m.used,
    remaining: m.remaining,
    grant_balance: m.grantBalance,
    period_start: isoOrNull(m.periodStart),
    resets_at: isoOrNull(m.resetsAt),
    ...(m.windows && {
      windows: m.windows.map((w) => ({ window: w.window, limit: w.limit, used: w.used, remaining: w.remaining, resets_at: new Date(w.resetsAt).toISOString() })),
    }),
  };
}

/** A reused Idempotency-Key: 422 for another request, 409 while the first is still running. */
export function idempotencyProblem(outcome: 'idempotency_mismatch' | 'idempotency_in_flight'): ProblemError {
  return outcome === 'idempotency_mismatch'
    ? new ProblemError(outcome, 'this Idempotency-Key was already used for a different request', { field: 'Idempotency-Key' })
    : new ProblemError(outcome, 'the first request with this Idempotency-Key has not finished; retry later', { field: 'Idempotency-Key' }, { 'retry-after': '1' });
}

/**
 * The problem a denial or idempotency outcome answers with, or null for an allowed or
 * replayed decision. Carries the RateLimit fields (and Retry-After where SPEC asks for it).
 */
export function decisionProblem(decision: Decision, context: { now: number; upgradeUrl: string }): ProblemError | null {
  const headers = decisionHeaders(decision, context.now);
  switch (decision.outcome) {
    case 'allowed':
    case 'replayed':
      return null;
    case 'idempotency_mismatch':
    case 'idempotency_in_flight':
      return idempotencyProblem(decision.outcome);
    case 'denied':
      switch (decision.reason) {
        case 'quota': {
          const m = decision.metrics.find((u) => u.metric === decision.metric)!;
          const w = decision.window;
          // A window is a rate limit: 429 with when to retry, not the 402 of a used-up period.
          if (w) {
            return new ProblemError(
              'rate_limited',
              `the ${m.metric} limit per ${w.window} is used up: ${decision.requested} requested, ${w.remaining} remaining until ${new Date(w.resetsAt).toISOString()}`,
              { metric: m.metric, window: w.window, limit: w.limit, used: w.used, remaining: w.remaining, requested: decision.requested, resets_at: isoOrNull(w.resetsAt) },
              { ...headers, 'retry-after': String(Math.max(1, Math.ceil((w.resetsAt - context.now) / 1000))) },
            );
          }
          return new ProblemError(
            'quota_exceeded',
            `the ${m.metric} quota is used up: ${decision.requested} requested, ${m.remaining ?? 'unlimited'} remaining`,
            {
              metric: m.metric,
              limit: m.limit,
              used: m.used,
              remaining: m.remaining,
              requested: decision.requested,
              resets_at: isoOrNull(m.resetsAt),
              upgrade_url: context.upgradeUrl,
            },
            headers,
          );
        }
        case 'rate':
          return new ProblemError(
            'rate_limited',
            `too many requests: at most ${decision.rate.rps} per second, bursts of ${decision.rate.limit}`,
            { limit: decision.rate.limit, retry_after_ms: decision.retryAfterMs },
            { ...headers, 'retry-after': String(Math.max(1, Math.ceil(decision.retryAfterMs / 1000))) },
          );
        case 'concurrency':
          return new ProblemError(
            'rate_limited',
            `too many requests in flight: at most ${decision.limit} at once`,
            { concurrency_limit: decision.limit, in_flight: decision.inUse },
            { ...headers, 'retry-after': '1' },
          );
      }
  }
}
