import { isReserved, type RouteDef } from '../config/policy.js';
import { ProblemError } from '../http/problem.js';
import { readJsonPath } from '../lib/json-path.js';
import { MAX_AMOUNT } from '../quota/errors.js';
import type { Charge } from '../quota/types.js';

export interface ChargePlan {
  charges: Charge[];
  /** Reserved lines and where the response tells their actual amount. */
  settle: { metric: string; from: string }[];
}

/** Whether planning this route's charges needs the request's JSON body. */
export const needsJsonBody = (route: RouteDef): boolean =>
  route.charge.some((c) => isReserved(c) && c.reserve.from.startsWith('body.'));

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

/** Whether the route reserves anything (reserved lines are always held, to be settled). */
export const reservesAny = (route: RouteDef): boolean => route.charge.some(isReserved);

/**
 * What a proxied request costs: fixed amounts, and reservations read from the request
 * (missing → the default; above `max` → `max`; anything but a whole number ≥ 0 → 400).
 * `holds`: the request keeps a hold anyway (reservations, a concurrency lease, an
 * idempotency record). Then, with `on_upstream_error: refund`, fixed lines are held too, so
 * ending the hold after a failed upstream gives them back. Without a hold they are charged
 * outright and only a failure runs a refund: one Redis script per successful request, not two.
 */
export function planCharges(route: RouteDef, request: RequestView, options: { holds: boolean }): ChargePlan {
  const holdFixed = options.holds && route.on_upstream_error === 'refund';
  const charges: Charge[] = [];
  const settle: ChargePlan['settle'] = [];
  for (const charge of route.charge) {
    if (!isReserved(charge)) {
      charges.push({ metric: charge.metric, amount: charge.amount, held: holdFixed });
      continue;
    }
    const value = readSource(charge.reserve.from, request);
    let amount = charge.reserve.default;
    if (value !== undefined && value !== null) {
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > MAX_AMOUNT) {
        throw new ProblemError('invalid_request', `${charge.reserve.from} must be a whole number from 0 to ${MAX_AMOUNT}`, {
          field: charge.reserve.from,
        });
      }
      amount = value;
    }
    if (charge.reserve.max !== undefined) amount = Math.min(amount, charge.reserve.max);
    charges.push({ metric: charge.metric, amount, held: true });
    settle.push({ metric: charge.metric, from: charge.settle.from });
  }
  return { charges, settle };
}
