import type { components } from './generated/openapi.js';

/**
 * The client's types, taken from the generated OpenAPI types (src/generated/openapi.ts), so
 * they follow the gateway's own schemas. Metric names belong to each operator's policy: the
 * generated ones (from the shipped policy) are widened to `string`.
 */
type Schemas = components['schemas'];

export type MetricUsage = Schemas['MetricUsage'];
export type UsageEntry = Schemas['UsageEntry'];
/** `ok` < 80 % ≤ `warning` < 95 % ≤ `critical` < 100 % ≤ `exceeded`: the gateway's own status. */
export type UsageStatus = UsageEntry['status'];
export type Usage = Schemas['Usage'];
export type Charge = Omit<Schemas['Charge'], 'metric'> & { metric: string };
export type CheckResult = Schemas['CheckResult'];
export type ReservationEnded = Schemas['ReservationEnded'];
export type Released = Schemas['Released'];
export type UsageToken = Schemas['UsageToken'];
export type ProblemBody = Schemas['Problem'];
export type ProblemCode = ProblemBody['code'];
export type QuotaExceededProblem = Schemas['QuotaExceededProblem'];
export type RateLimitedProblem = Schemas['RateLimitedProblem'];

/** The IETF RateLimit fields of a decision, as the gateway sent them (null: not sent). */
export interface RateLimitFields {
  policy: string | null;
  limit: string | null;
}

/** A denial is a value, not an exception: the quota is used up, or the request rate or concurrency is over its limit. */
export type Denied =
  | {
      allowed: false;
      reason: 'quota';
      status: 402;
      problem: QuotaExceededProblem;
      rateLimit: RateLimitFields;
      retryAfterSeconds: null;
    }
  | {
      allowed: false;
      reason: 'rate';
      status: 429;
      problem: RateLimitedProblem;
      rateLimit: RateLimitFields;
      /** From Retry-After. */
      retryAfterSeconds: number;
    };

export interface Consumed {
  allowed: true;
  requestId: string | null;
  metrics: MetricUsage[];
  /** true: the same idempotency key was decided before; nothing was charged this time. */
  replayed: boolean;
  rateLimit: RateLimitFields;
}

export interface Reserved {
  allowed: true;
  /** Settle, release or refund the reservation with this id. */
  id: string;
  /** When the gateway releases it unless settled; null on a replay. */
  expiresAt: string | null;
  metrics: MetricUsage[];
  /** true: this idempotency key's reservation was settled before; nothing is reserved, and `response` is what it was settled with. */
  replayed: boolean;
  response: string | null;
  rateLimit: RateLimitFields;
}

export type ConsumeDecision = Consumed | Denied;
export type ReserveDecision = Reserved | Denied;
