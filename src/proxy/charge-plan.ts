import { isReserved, settlesFromUsage, type ChargeDef, type RouteDef, type UsageSettleDef } from '../config/policy.js';
import { ProblemError } from '../http/problem.js';
import { readJsonPath } from '../lib/json-path.js';
import type { PriceTable } from '../metering/prices.js';
import { PROVIDERS } from '../metering/providers.js';
import type { MeteredUsage } from '../metering/token-usage.js';
import { MAX_AMOUNT } from '../quota/errors.js';
import type { Charge } from '../quota/types.js';
import { actualOf, estimateUsage, matchesAny, reservationOf, type UsageEstimate, type UsageSource } from './usage-charges.js';

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
  /** Held lines whose amount the response decides. */
  settle: SettleLine[];
  /** The model the request names (routes with a provider). */
  requestedModel: string | undefined;
}

/** A held line the response settles, and how its actual amount is learned. */
export interface SettleLine {
  metric: string;
  /** A response path or header, the provider's usage, or (a conditional fixed charge) its amount. */
  source: { from: string } | UsageSource | { fixed: number };
  /** A line conditioned on the model: it applies only if the model that answered is one of these (see actualsOf). */
  models?: readonly string[];
}

type PlannedCharge = Charge & { held: boolean };

/** Whether planning this route's charges needs the request's JSON body. */
export const needsJsonBody = (route: RouteDef): boolean =>
  route.provider !== undefined || route.charge.some((c) => Object.keys(c.when ?? {}).some((k) => k.startsWith('body.')) || (isReserved(c) && c.reserve.from?.startsWith('body.')));

export interface RequestView {
  /** The parsed JSON body, when the route needs it. */
  json?: unknown;
  query: URLSearchParams;
  headers: Headers;
  /** The path without the query. */
  path: string;
  /** The body's size (input estimates). */
  bodyBytes: number;
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

/** Whether a charge's request conditions (all but `model`) hold. */
function requestMatches(when: Record<string, string[]>, request: RequestView): boolean {
  return Object.entries(when).every(([field, values]) => {
    if (field === 'model') return true;
    const value = readSource(field, request);
    return (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') && matchesAny(values, String(value));
  });
}

/**
 * What a proxied request costs: fixed amounts, and reservations read from the request
 * (missing → the default; above `max` → `max`; anything but a whole number ≥ 0 → 400) or,
 * on a route with a provider, estimated from its output limit field and body size. A charge
 * whose `when` does not hold costs nothing; one conditioned on the model is held at 0 when
 * the request names another model, so the model that answers can still move it.
 *
 * The request keeps a hold when it reserves, has a model condition, takes a concurrency
 * lease (`leased`: its plan has a concurrency limit) or carries an Idempotency-Key. Then,
 * with `on_upstream_error: refund`, fixed lines are held too, so ending the hold after a
 * failed upstream gives them back. Without a hold they are charged outright and only a
 * failure runs a refund: one Redis script per successful request, not two.
 */
export function planCharges(
  route: RouteDef,
  request: RequestView,
  options: { leased: boolean; idempotent: boolean; holdTtlMs: number; prices: Readonly<Record<string, PriceTable>> },
): ChargePlan {
  const format = route.provider ? PROVIDERS[route.provider] : undefined;
  const requestedModel = format?.requestedModel({ json: request.json, path: request.path });
  const applying = route.charge.filter((c) => c.when === undefined || requestMatches(c.when, request));
  const followsModel = (c: ChargeDef) => c.when?.model !== undefined;
  const holds = applying.some((c) => isReserved(c) || followsModel(c)) || options.leased || options.idempotent;
  const refundsOnFailure = route.on_upstream_error === 'refund';
  const charges: PlannedCharge[] = [];
  const settle: SettleLine[] = [];
  let estimate: UsageEstimate | undefined;
  for (const charge of applying) {
    const models = charge.when?.model;
    // A model condition is decided by the model the request names now, and by the one that answered at settlement.
    const chosen = models === undefined || (requestedModel !== undefined && matchesAny(models, requestedModel));
    if (!isReserved(charge)) {
      charges.push({ metric: charge.metric, amount: chosen ? charge.amount : 0, held: followsModel(charge) || (holds && refundsOnFailure) });
      if (models) settle.push({ metric: charge.metric, source: { fixed: charge.amount }, models });
      continue;
    }
    const { reserve } = charge;
    const source: SettleLine['source'] = settlesFromUsage(charge.settle) ? usageSource(charge.settle.usage, charge.metric, route, options.prices) : { from: charge.settle.from! };
    let amount: number;
    if ('usage' in source && reserve.from === undefined && format) {
      estimate ??= estimateUsage(format, { json: request.json, path: request.path, bodyBytes: request.bodyBytes }, reserve.default);
      // An unknown model on a charge_reservation route reserves max (config check requires it).
      amount = reservationOf(source, estimate, requestedModel) ?? reserve.max!;
    } else {
      amount = reservedAmount(reserve.from!, reserve.default, request);
    }
    charges.push({ metric: charge.metric, amount: chosen ? Math.min(amount, reserve.max ?? amount) : 0, held: true });
    settle.push(models ? { metric: charge.metric, source, models } : { metric: charge.metric, source });
  }
  const refunds = !holds && refundsOnFailure && charges.some((ch) => ch.amount > 0);
  return { charges, holdTtlMs: holds ? options.holdTtlMs : undefined, refundTtlMs: refunds ? options.holdTtlMs : undefined, settle, requestedModel };
}

function usageSource(usage: UsageSettleDef['usage'], metric: string, route: RouteDef, prices: Readonly<Record<string, PriceTable>>): UsageSource {
  return usage === 'price' ? { usage, prices: prices[metric]!, unknownModel: route.unknown_model } : { usage };
}

function reservedAmount(from: string, fallback: number, request: RequestView): number {
  const value = readSource(from, request);
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > MAX_AMOUNT) {
    throw new ProblemError('invalid_request', `${from} must be a whole number from 0 to ${MAX_AMOUNT}`, { field: from });
  }
  return value;
}

/** What the upstream did, as far as the charge is concerned. */
export interface UpstreamResult {
  /** A 5xx, no answer at all, or a body broken off by the upstream: what `on_upstream_error` is about. */
  failed: boolean;
  /** The HTTP status (0 when the upstream never answered). */
  status: number;
  /** Actual amounts the response reported at `from` paths and headers (metric → units). */
  reported: Record<string, number>;
  /** The usage the provider reported, if the route has one and the response carried it. */
  usage?: MeteredUsage | undefined;
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
  const actuals = actualsOf(plan, result);
  if (result.status >= 400) for (const line of plan.settle) actuals[line.metric] ??= 0;
  return { action: 'settle', actuals };
}

/**
 * The actual amount of each settled line that the response decided. Lines conditioned on
 * the model follow the model that answered when one of them names it (premium asked,
 * standard served: premium settles to 0, standard to its cost, in the one settle script);
 * an answer no condition names (a dated snapshot of the model asked for, say) leaves the
 * choice made for the requested model. Without usage, lines keep their reservation.
 */
export function actualsOf(plan: ChargePlan, result: UpstreamResult): Record<string, number> {
  const actuals: Record<string, number> = {};
  const answered = result.usage?.model;
  const follows = answered !== undefined && plan.settle.some((l) => l.models && matchesAny(l.models, answered));
  const model = follows ? answered : plan.requestedModel;
  for (const line of plan.settle) {
    if (line.models && result.usage !== undefined && !(model !== undefined && matchesAny(line.models, model))) {
      actuals[line.metric] = 0;
      continue;
    }
    const { source } = line;
    let actual: number | undefined;
    if ('from' in source) actual = result.reported[line.metric];
    else if ('fixed' in source) actual = result.usage === undefined ? undefined : source.fixed;
    else if (result.usage !== undefined) actual = actualOf(source, result.usage, plan.requestedModel);
    if (actual !== undefined) actuals[line.metric] = actual;
  }
  return actuals;
}
