import { isReserved, type RouteDef } from '../config/policy.js';
import { ProblemError } from '../http/problem.js';
import { readJsonPath } from '../lib/json-path.js';
import { MAX_AMOUNT } from '../quota/errors.js';
import type { Charge } from '../quota/types.js';

/**
 * How a proxied request is charged, and how its charge ends: the one place that decides
 * whether a request keeps a hold, is charged outright with a refund record, or neither, and
 * what its response then does to the charge. The engine carries the plan out
 * (lua/consume.lua keeps the hold or the refund record it is told to keep).
 */
export interface ChargePlan {
  charges: Charge[];
  /** Set when the request keeps a hold (reservations, a concurrency lease, an idempotency record). */
  holdTtlMs: number | undefined;
  /** Set when the charge is taken outright but given back (refund script) if the upstream fails. */
  refundTtlMs: number | undefined;
  /** Reserved lines and where the response tells their actual amount. */
  settle: { metric: string; from: string }[];
}

/** Whether planning this route's charges needs the request's JSON body. */
export const needsJsonBody = (route: RouteDef): boolean => route.charge.some((c) => isReserved(c) && c.reserve.from.startsWith('body.'));

export interface RequestView {
  /** The parsed JSON body, when the route needs it. */
  json?: unknown;
  query: URLSearchParams;
  headers: Headers;
}

function readSource(source: string, request: RequestView): unknown {
  const dot = source.indexOf('.');
  const where = source.slice(0, dot);
  const name = source.slice(dot + 1);
  if (where === 'body') return readJsonPath(request.json, name);
  const raw = where === 'query' ? request.query.get(name) : request.headers.get(name);
  if (raw === null) return undefined;
  return /^\d+$/.test(raw) ? Number(raw) : raw;
}

/**
 * What a proxied request costs: fixed amounts, and reservations read from the request
 * (missing → the default; above `max` → `max`; anything but a whole number ≥ 0 → 400).
 *
 * The request keeps a hold when it reserves, takes a concurrency lease (`leased`: its plan
 * has a concurrency limit) or carries an Idempotency-Key. Then, with `on_upstream_error:
 * refund`, fixed lines are held too, so ending the hold after a failed upstream gives them
 * back. Without a hold they are charged outright and only a failure runs a refund: one
 * Redis script per successful request, not two.
 */
export function planCharges(route: RouteDef, request: RequestView, options: { leased: boolean; idempotent: boolean; holdTtlMs: number }): ChargePlan {
  const holds = route.charge.some(isReserved) || options.leased || options.idempotent;
  const refundsOnFailure = route.on_upstream_error === 'refund';
  const charges: Charge[] = [];
  const settle: ChargePlan['settle'] = [];
  for (const charge of route.charge) {
    if (!isReserved(charge)) {
      charges.push({ metric: charge.metric, amount: charge.amount, held: holds && refundsOnFailure });
      continue;
    }
    charges.push({ metric: charge.metric, amount: reservedAmount(charge.reserve, request), held: true });
    settle.push({ metric: charge.metric, from: charge.settle.from });
  }
  const refunds = !holds && refundsOnFailure && charges.some((ch) => ch.amount > 0);
  return { charges, holdTtlMs: holds ? options.holdTtlMs : undefined, refundTtlMs: refunds ? options.holdTtlMs : undefined, settle };
}

function reservedAmount(reserve: { from: string; default: number; max?: number }, request: RequestView): number {
  const value = readSource(reserve.from, request);
  let amount = reserve.default;
  if (value !== undefined && value !== null) {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > MAX_AMOUNT) {
      throw new ProblemError('invalid_request', `${reserve.from} must be a whole number from 0 to ${MAX_AMOUNT}`, { field: reserve.from });
    }
    amount = value;
  }
  return reserve.max === undefined ? amount : Math.min(amount, reserve.max);
}

/** What the upstream did, as far as the charge is concerned. */
export interface UpstreamResult {
  /** A 5xx, no answer at all, or a body broken off by the upstream: what `on_upstream_error` is about. */
  failed: boolean;
  /** The HTTP status (0 when the upstream never answered). */
  status: number;
  /** Actual amounts the response reported (metric → units). */
  reported: Record<string, number>;
}

/** What ends a request's charge once its upstream is done. */
export type Ending =
  /** End the hold with these actuals (lines not named keep their held amount). */
  | { action: 'settle'; actuals: Record<string, number> }
  /** End the hold giving back everything it holds (`refund` events). */
  | { action: 'return-hold' }
  /** Give back the charge taken outright (the refund script). */
  | { action: 'refund' }
  /** The charge stands as taken. */
  | { action: 'none' };

/**
 * A failed upstream gives the charge back when the route says `on_upstream_error: refund`
 * (and keeps it otherwise); a successful one settles reserved lines to the actual usage
 * the response reported. A reserved line without a reported actual keeps its reservation
 * after a success and is given back after a 4xx (the upstream did no work).
 */
export function endingOf(route: RouteDef, plan: ChargePlan, charge: { held: boolean; refundable: boolean }, result: UpstreamResult): Ending {
  if (result.failed) {
    if (!charge.held) return charge.refundable ? { action: 'refund' } : { action: 'none' };
    return route.on_upstream_error === 'refund' ? { action: 'return-hold' } : { action: 'settle', actuals: {} };
  }
  if (!charge.held) return { action: 'none' };
  const actuals = { ...result.reported };
  if (result.status >= 400) for (const line of plan.settle) actuals[line.metric] ??= 0;
  return { action: 'settle', actuals };
}
