import { describe, expect, it } from 'vitest';
import { routeSchema, type RouteDef } from '../config/policy.js';
import { actualsOf, endingOf, planCharges, type ChargePlan, type RequestView } from './charge-plan.js';

const route = (over: Record<string, unknown> = {}): RouteDef =>
  routeSchema.parse({
    name: 'chat',
    match: { method: 'POST', path: '/v1/chat' },
    upstream: 'http://127.0.0.1:9100',
    charge: [
      { metric: 'gens', amount: 1 },
      { metric: 'tokens', reserve: { from: 'body.max_tokens', default: 100, max: 1000 }, settle: { from: 'response.usage.total_tokens' } },
    ],
    ...over,
  });
const fixedOnly = (over: Record<string, unknown> = {}) => route({ charge: [{ metric: 'gens', amount: 1 }], ...over });
const request = (json: unknown): RequestView => ({ json, query: new URLSearchParams(), headers: new Headers(), path: '/v1/chat', bodyBytes: 0 });
const options = { leased: false, idempotent: false, holdTtlMs: 60_000, prices: {} };

describe('planCharges: how a proxied request is charged', () => {
  it('a reservation holds every line (fixed ones too, to be refunded), capped at max', () => {
    expect(planCharges(route(), request({ max_tokens: 5000 }), options)).toEqual({
      charges: [
        { metric: 'gens', amount: 1, held: true },
        { metric: 'tokens', amount: 1000, held: true },
      ],
      holdTtlMs: 60_000,
      refundTtlMs: undefined,
      settle: [{ metric: 'tokens', source: { from: 'response.usage.total_tokens' } }],
      requestedModel: undefined,
    });
  });

  it('without anything to hold, a refunding route charges outright with a refund record', () => {
    expect(planCharges(fixedOnly(), request(undefined), options)).toMatchObject({
      charges: [{ metric: 'gens', amount: 1, held: false }],
      holdTtlMs: undefined,
      refundTtlMs: 60_000,
    });
  });

  it('a lease or an Idempotency-Key keeps a hold, and fixed lines are held in it', () => {
    for (const o of [
      { ...options, leased: true },
      { ...options, idempotent: true },
    ]) {
      expect(planCharges(fixedOnly(), request(undefined), o)).toMatchObject({ charges: [{ held: true }], holdTtlMs: 60_000, refundTtlMs: undefined });
    }
  });

  it('a route that keeps the charge on failure holds nothing it does not have to and keeps no refund record', () => {
    expect(planCharges(fixedOnly({ on_upstream_error: 'charge' }), request(undefined), options)).toMatchObject({
      charges: [{ held: false }],
      holdTtlMs: undefined,
      refundTtlMs: undefined,
    });
    expect(planCharges(route({ on_upstream_error: 'charge' }), request({}), options).charges).toEqual([
      { metric: 'gens', amount: 1, held: false },
      { metric: 'tokens', amount: 100, held: true },
    ]);
  });

  it('refuses a reservation that is not a whole number, naming the field', () => {
    expect(() => planCharges(route(), request({ max_tokens: 1.5 }), options)).toThrow(/body.max_tokens must be a whole number/);
  });
});

describe('endingOf: how the charge ends once the upstream is done', () => {
  const plan: ChargePlan = planCharges(route(), request({}), options);
  const ok = { failed: false, status: 200, reported: { tokens: 42 } };

  it('settles reserved lines to what the response reported', () => {
    expect(endingOf(route(), plan, { held: true, refundable: false }, ok)).toEqual({ action: 'settle', actuals: { tokens: 42 } });
  });

  it('gives reserved lines back after a 4xx that reported nothing (the upstream did no work)', () => {
    expect(endingOf(route(), plan, { held: true, refundable: false }, { failed: false, status: 400, reported: {} })).toEqual({ action: 'settle', actuals: { tokens: 0 } });
  });

  it('a failed upstream returns the hold, refunds a charge taken outright, or keeps it as the route says', () => {
    const failed = { failed: true, status: 502, reported: {} };
    expect(endingOf(route(), plan, { held: true, refundable: false }, failed)).toEqual({ action: 'return-hold' });
    expect(endingOf(fixedOnly(), plan, { held: false, refundable: true }, failed)).toEqual({ action: 'refund' });
    expect(endingOf(route({ on_upstream_error: 'charge' }), plan, { held: true, refundable: false }, failed)).toEqual({ action: 'settle', actuals: {} });
    expect(endingOf(fixedOnly({ on_upstream_error: 'charge' }), plan, { held: false, refundable: false }, failed)).toEqual({ action: 'none' });
  });

  it('a success without a hold leaves the charge as taken', () => {
    expect(endingOf(fixedOnly(), plan, { held: false, refundable: true }, ok)).toEqual({ action: 'none' });
  });
});

describe('charges settled from provider usage', () => {
  const prices = {
    credits: {
      per_tokens: 1_000_000,
      models: { 'gpt-4o*': { input: 2_500_000, output: 10_000_000, cached_input: 1_250_000 } },
      aliases: {},
      default: { input: 1_000_000, output: 1_000_000 },
    },
  };
  const provider = (over: Record<string, unknown> = {}) =>
    route({
      provider: 'openai_chat',
      charge: [
        { metric: 'tokens', reserve: { default: 100, max: 5000 }, settle: { usage: 'total' } },
        { metric: 'credits', reserve: { default: 100, max: 777 }, settle: { usage: 'price' } },
      ],
      ...over,
    });
  const at = (json: unknown, bodyBytes = 400): RequestView => ({ ...request(json), bodyBytes });
  const priced = { ...options, prices };

  it('reserves the limit field plus the body bytes / 4, clamped at max, and prices it at the dearest class', () => {
    const plan = planCharges(provider(), at({ model: 'gpt-4o', max_completion_tokens: 300, max_tokens: 9 }, 401), priced);
    // ceil(401 / 4) = 101 input tokens + 300 output.
    expect(plan.charges).toEqual([
      { metric: 'tokens', amount: 401, held: true },
      { metric: 'credits', amount: Math.min(777, Math.ceil((101 * 2_500_000 + 300 * 10_000_000) / 1_000_000)), held: true },
    ]);
    expect(planCharges(provider(), at({ model: 'gpt-4o', max_tokens: 90_000 }), priced).charges[0]!.amount).toBe(5000);
    expect(planCharges(provider(), at({ model: 'gpt-4o' }), priced).charges[0]!.amount).toBe(100 + 100);
    expect(plan.requestedModel).toBe('gpt-4o');
  });

  it('refuses a limit field that is not a whole number, naming it', () => {
    expect(() => planCharges(provider(), at({ model: 'gpt-4o', max_tokens: -1 }), priced)).toThrow(/body.max_completion_tokens \| body.max_tokens must be a whole number/);
  });

  it('an unknown model: deny (400 naming model), the table default, or max (and the reservation stands)', () => {
    expect(() => planCharges(provider({ unknown_model: 'deny' }), at({ model: 'llama' }), priced)).toThrow(/model "llama" has no price/);
    const byDefault = planCharges(provider({ unknown_model: 'default' }), at({ model: 'llama', max_tokens: 500 }), priced);
    expect(byDefault.charges[1]!.amount).toBe((100 * 1_000_000 + 500 * 1_000_000) / 1_000_000);
    const reserved = planCharges(provider(), at({ model: 'llama', max_tokens: 10 }), priced);
    expect(reserved.charges[1]!.amount).toBe(777);
    const usage = { model: 'llama', tokens: { input: 10, cached_input: 0, cache_write: 0, output: 5, reasoning: 0 } };
    expect(actualsOf(reserved, { failed: false, status: 200, reported: {}, usage })).toEqual({ tokens: 15 });
  });

  it('settles tokens and the price of the model that answered, rounded up once', () => {
    const plan = planCharges(provider(), at({ model: 'gpt-4o' }), priced);
    const usage = { model: 'gpt-4o-2024-08-06', tokens: { input: 3, cached_input: 2, cache_write: 0, output: 1, reasoning: 1 } };
    // 3×2.5 + 2×1.25 + 2×10 = 30 µ-units → 30 exactly; one more input token would round 32.5 up to 33.
    expect(actualsOf(plan, { failed: false, status: 200, reported: {}, usage })).toEqual({ tokens: 7, credits: 30 });
    expect(actualsOf(plan, { failed: false, status: 200, reported: {}, usage: { ...usage, tokens: { ...usage.tokens, input: 4 } } })).toEqual({ tokens: 8, credits: 33 });
    // No usage (an interrupted stream): every line keeps its reservation.
    expect(actualsOf(plan, { failed: false, status: 200, reported: {} })).toEqual({});
  });
});

describe('conditional charges', () => {
  const conditional = route({
    provider: 'anthropic',
    charge: [
      { metric: 'premium', reserve: { default: 50 }, settle: { usage: 'total' }, when: { model: ['claude-opus*'] } },
      { metric: 'standard', reserve: { default: 50 }, settle: { usage: 'total' }, when: { model: ['claude-haiku*', 'claude-sonnet*'] } },
      { metric: 'gold', amount: 1, when: { 'header.x-tier': ['gold'] } },
      { metric: 'opus_calls', amount: 1, when: { model: ['claude-opus*'] } },
    ],
  });
  const asking = (model: string, headers: Record<string, string> = {}): RequestView => ({ ...request({ model, max_tokens: 100 }), headers: new Headers(headers), bodyBytes: 40 });
  const usage = (model: string) => ({ model, tokens: { input: 10, cached_input: 0, cache_write: 0, output: 20, reasoning: 0 } });
  const ok = (model: string) => ({ failed: false, status: 200, reported: {}, usage: usage(model) });

  it('holds the model’s lines at their amount and the other model lines at 0; request-field conditions decide at once', () => {
    const plan = planCharges(conditional, asking('claude-opus-4-1', { 'x-tier': 'silver' }), options);
    expect(plan.charges).toEqual([
      { metric: 'premium', amount: 110, held: true },
      { metric: 'standard', amount: 0, held: true },
      { metric: 'opus_calls', amount: 1, held: true },
    ]);
    expect(planCharges(conditional, asking('claude-haiku-3', { 'x-tier': 'gold' }), options).charges.map((c) => [c.metric, c.amount])).toEqual([
      ['premium', 0],
      ['standard', 110],
      ['gold', 1],
      ['opus_calls', 0],
    ]);
  });

  it('body and query conditions, decided on the request', () => {
    const byFields = route({
      charge: [
        { metric: 'batch', amount: 1, when: { 'body.mode': ['batch'], 'query.region': ['eu-*'] } },
        { metric: 'gens', amount: 1 },
      ],
    });
    const view = (json: unknown, query: string): RequestView => ({ ...request(json), query: new URLSearchParams(query) });
    expect(planCharges(byFields, view({ mode: 'batch' }, 'region=eu-west'), options).charges.map((c) => c.metric)).toEqual(['batch', 'gens']);
    expect(planCharges(byFields, view({ mode: 'batch' }, 'region=us-east'), options).charges.map((c) => c.metric)).toEqual(['gens']);
    expect(planCharges(byFields, view({ mode: 'live' }, 'region=eu-west'), options).charges.map((c) => c.metric)).toEqual(['gens']);
  });

  it('settles by the model that answered: premium asked, standard served → premium 0, standard its usage', () => {
    const plan = planCharges(conditional, asking('claude-opus-4-1'), options);
    expect(actualsOf(plan, ok('claude-haiku-3-20240307'))).toEqual({ premium: 0, standard: 30, opus_calls: 0 });
    expect(actualsOf(plan, ok('claude-opus-4-1-20250805'))).toEqual({ premium: 30, standard: 0, opus_calls: 1 });
  });

  it('an answer no condition names keeps the choice made for the requested model; no usage keeps the holds', () => {
    const plan = planCharges(conditional, asking('claude-opus-4-1'), options);
    expect(actualsOf(plan, ok('some-other-model'))).toEqual({ premium: 30, standard: 0, opus_calls: 1 });
    expect(actualsOf(plan, { failed: false, status: 200, reported: {} })).toEqual({});
  });
});
