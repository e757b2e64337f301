import { describe, expect, it } from 'vitest';
import { routeSchema, type RouteDef } from '../config/policy.js';
import { endingOf, planCharges, type ChargePlan, type RequestView } from './charge-plan.js';

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
