import type { MetricKind } from '../config/policy.js';
import type { HoldLine } from '../redis/scripts/hold-record.js';

/** Whose usage is metered, as the engine needs it to decide. */
export interface SubjectRef {
  id: string;
  plan: string;
  /** Billing anchor, ms since epoch; null = calendar months in UTC. */
  anchor: number | null;
  /** Per-metric limit overrides (null = unlimited). */
  overrides?: Readonly<Record<string, number | null>>;
}

/** One metric a request costs. */
export interface Charge {
  metric: string;
  /** Whole units ≥ 0. For a reservation: the amount reserved now. */
  amount: number;
  /**
   * Keep this line open in the request's hold: a reservation settled later, or a charge
   * refunded if the upstream fails. Unheld lines are final at once.
   */
  held?: boolean;
}

/** A metric's state after (or, when denied, at the time of) a decision. */
export interface MetricUsage {
  metric: string;
  kind: MetricKind;
  /** Plan limit (after overrides); null = unlimited. */
  limit: number | null;
  used: number;
  /** Units that still fit: the plan allowance left plus usable grants; null = unlimited. */
  remaining: number | null;
  /** Usable grant balance (counters), or the extra ceiling unexpired grants give (gauges). */
  grantBalance: number;
  /** Period start (ms) for counters; null for gauges. */
  periodStart: number | null;
  /** When the counter starts again at 0 (ms); null for gauges. */
  resetsAt: number | null;
  /** The plan's windows of this counter (minute, hour, day), when it has any. */
  windows?: WindowUsage[];
}

/** A counter's usage in one fixed window: a rate limit beside its billing period. */
export interface WindowUsage {
  window: 'minute' | 'hour' | 'day';
  limit: number;
  used: number;
  remaining: number;
  windowStart: number;
  resetsAt: number;
}

export interface RateState {
  /** Requests allowed at once (the burst). */
  limit: number;
  /** Sustained requests per second. */
  rps: number;
  remaining: number;
  /** ms until the bucket is full again. */
  resetMs: number;
}

export type DenyReason = 'quota' | 'rate' | 'concurrency';

/** What a settle or return needs to address a hold without reading it first. */
export interface HoldRef {
  id: string;
  subjectId: string;
  lines: HoldLine[];
  /** The idempotency key waiting on this hold, if any. */
  idempotencyKey: string | null;
}

export type { HoldLine };

/** What `refund` needs to give back a charge taken outright (consumed with `refundTtlMs`). */
export interface RefundRef {
  requestId: string;
  subjectId: string;
  /** Every line charged, in the period it was charged in. */
  lines: HoldLine[];
  /** The consume's event context, carried by the refund's events too. */
  context: string;
  /** How long the refund record lives (the consume's `refundTtlMs`). */
  ttlMs: number;
}

export interface Allowed {
  outcome: 'allowed';
  requestId: string;
  metrics: MetricUsage[];
  rate: RateState | null;
  concurrency: { limit: number; inUse: number } | null;
  hold: HoldRef | null;
  /** Set when consumed with `refundTtlMs`: how to give the charge back. */
  refund: RefundRef | null;
  /** Shadow mode only: what would have denied the request under enforcement. */
  wouldDeny: { reason: DenyReason; metric?: string } | null;
}

export interface QuotaDenied {
  outcome: 'denied';
  reason: 'quota';
  /** The first metric that did not fit. */
  metric: string;
  /** Set when it was one of the metric's windows that did not fit, not its period. */
  window?: WindowUsage;
  requested: number;
  metrics: MetricUsage[];
  rate: RateState | null;
}

export interface RateDenied {
  outcome: 'denied';
  reason: 'rate';
  retryAfterMs: number;
  rate: RateState;
}

export interface ConcurrencyDenied {
  outcome: 'denied';
  reason: 'concurrency';
  limit: number;
  inUse: number;
  rate: RateState | null;
}

export type Denied = QuotaDenied | RateDenied | ConcurrencyDenied;

export interface Replayed {
  outcome: 'replayed';
  /** The original decision, as first answered. */
  original: Allowed;
  /** The upstream response stored with the idempotency record, if any. */
  response: string | null;
}

export interface IdempotencyMismatch {
  outcome: 'idempotency_mismatch';
}

export interface IdempotencyInFlight {
  outcome: 'idempotency_in_flight';
}

/** A decision is a value: denials and idempotency outcomes are not exceptions. */
export type Decision = Allowed | Denied | Replayed | IdempotencyMismatch | IdempotencyInFlight;

/**
 * How ending a hold went: `ended` with each line's usage afterwards; `not_found` when it had
 * already ended; `not_due` when an expiry came before the hold's deadline.
 */
export type HoldOutcome = { outcome: 'ended'; metrics: MetricUsage[] } | { outcome: 'not_found' } | { outcome: 'not_due' };
