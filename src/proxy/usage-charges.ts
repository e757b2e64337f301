import type { PriceTable } from '../metering/prices.js';
import { costOf, maxCostOf, matchesName, pricesOf } from '../metering/prices.js';
import type { ProviderFormat } from '../metering/provider-format.js';
import { measureTokens, type MeteredUsage, type TokenMeasure } from '../metering/token-usage.js';
import { ProblemError } from '../http/problem.js';
import { MAX_AMOUNT } from '../quota/errors.js';

/**
 * Charges settled from the usage a provider reports (README "Metering AI providers"):
 * what they reserve before the upstream answers, and what they settle to after.
 */

export type UnknownModel = 'deny' | 'charge_reservation' | 'default';

/** How a reserved line learns its actual amount. */
export type UsageSource = { usage: TokenMeasure } | { usage: 'price'; prices: PriceTable; unknownModel: UnknownModel };

/** Input tokens are estimated as the body's bytes over this (about 4 bytes a token in English JSON; an overestimate for JSON framing). */
export const BYTES_PER_INPUT_TOKEN = 4;

export interface UsageEstimate {
  input: number;
  output: number;
}

/**
 * The output the request may produce (its provider's limit field, else `fallback`) and its
 * input estimated from the body's size; a limit that is not a whole number ≥ 0 is a 400.
 */
export function estimateUsage(format: ProviderFormat, request: { json: unknown; path: string; bodyBytes: number }, fallback: number): UsageEstimate {
  const limit = format.outputLimit(request);
  let output = fallback;
  if (limit !== undefined && limit !== null) {
    if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 0 || limit > MAX_AMOUNT) {
      throw new ProblemError('invalid_request', `${format.limitField} must be a whole number from 0 to ${MAX_AMOUNT}`, { field: format.limitField });
    }
    output = limit;
  }
  return { input: Math.ceil(request.bodyBytes / BYTES_PER_INPUT_TOKEN), output };
}

/**
 * What a usage-settled line reserves for `estimate` (before its `max`), or `undefined` when a
 * priced line's model has no price and the route charges unknown models their `max`.
 */
export function reservationOf(source: UsageSource, estimate: UsageEstimate, model: string | undefined): number | undefined {
  // Never more than one charge can be: a request asking for that much is then simply denied by its quota.
  if (source.usage !== 'price')
    return Math.min(MAX_AMOUNT, source.usage === 'total' ? estimate.input + estimate.output : source.usage === 'input' ? estimate.input : estimate.output);
  const prices = (model !== undefined ? pricesOf(source.prices, model) : undefined) ?? (source.unknownModel === 'default' ? source.prices.default : undefined);
  if (prices) return Math.min(MAX_AMOUNT, maxCostOf(estimate, prices, source.prices.per_tokens));
  if (source.unknownModel === 'deny') {
    throw new ProblemError(
      'invalid_request',
      model === undefined ? 'the request names no model, and this route charges by model price' : `model "${model}" has no price on this route`,
      {
        field: 'model',
      },
    );
  }
  return undefined;
}

/** What a usage-settled line actually cost; undefined (the line keeps its reservation) when a priced model has no price. */
export function actualOf(source: UsageSource, usage: MeteredUsage, requestedModel: string | undefined): number | undefined {
  if (source.usage !== 'price') return measureTokens(usage.tokens, source.usage);
  const model = usage.model ?? requestedModel;
  const prices = (model !== undefined ? pricesOf(source.prices, model) : undefined) ?? (source.unknownModel === 'default' ? source.prices.default : undefined);
  return prices ? Math.min(costOf(usage.tokens, prices, source.prices.per_tokens), MAX_AMOUNT) : undefined;
}

export const matchesAny = (patterns: readonly string[], value: string): boolean => patterns.some((p) => matchesName(p, value));
