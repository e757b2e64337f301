import type { PolicyInput } from '../../src/config/policy.js';

/**
 * A policy for the provider metering tests: one route per provider API, each charging
 * tokens (the total the provider reports) and credits (that usage at the model's prices, in
 * micro-dollars per million tokens), and the Anthropic route a premium or standard token
 * metric by the model that answered.
 */
export const PRICES = {
  'gpt-4o-mini*': { input: 150_000, cached_input: 75_000, output: 600_000 },
  'o4-mini*': { input: 1_100_000, cached_input: 275_000, output: 4_400_000 },
  'claude-opus-4*': { input: 15_000_000, cached_input: 1_500_000, cache_write: 18_750_000, output: 75_000_000 },
  'claude-sonnet-4*': { input: 3_000_000, cached_input: 300_000, cache_write: 3_750_000, output: 15_000_000 },
  'claude-3-5-haiku*': { input: 800_000, cached_input: 80_000, cache_write: 1_000_000, output: 4_000_000 },
  'gemini-2.5-flash*': { input: 300_000, cached_input: 75_000, output: 2_500_000 },
} as const;
export type PricedModel = keyof typeof PRICES;

type ChargeInput = NonNullable<PolicyInput['routes']>[number]['charge'];

const metered = (extra: NonNullable<ChargeInput> = []): ChargeInput => [
  { metric: 'tokens', reserve: { default: 256, max: 100_000 }, settle: { usage: 'total' } },
  { metric: 'credits', reserve: { default: 256, max: 50_000_000 }, settle: { usage: 'price' } },
  ...extra,
];

export const providerPolicy = (upstream: string): PolicyInput => ({
  metrics: {
    tokens: { kind: 'counter' },
    credits: { kind: 'counter', description: 'micro-dollars' },
    premium_tokens: { kind: 'counter' },
    standard_tokens: { kind: 'counter' },
    tpm: { kind: 'counter' },
  },
  plans: {
    test: { limits: { tokens: 10_000_000, credits: 1_000_000_000, premium_tokens: 1_000_000, standard_tokens: 1_000_000, tpm: 1_000_000 } },
  },
  prices: { credits: { per_tokens: 1_000_000, models: { ...PRICES }, aliases: { 'house-model': 'gpt-4o-mini*' } } },
  routes: [
    { name: 'openai-chat', match: { method: 'POST', path: '/v1/chat/completions' }, upstream, provider: 'openai_chat', charge: metered(), timeout_ms: 5_000 },
    // Refuses models without a price (the other routes charge them their reservation's max).
    {
      name: 'openai-responses',
      match: { method: 'POST', path: '/v1/responses' },
      upstream,
      provider: 'openai_responses',
      unknown_model: 'deny',
      charge: metered(),
      timeout_ms: 5_000,
    },
    {
      name: 'anthropic',
      match: { method: 'POST', path: '/v1/messages' },
      upstream,
      provider: 'anthropic',
      charge: metered([
        { metric: 'premium_tokens', reserve: { default: 256 }, settle: { usage: 'total' }, when: { model: ['claude-opus-4*'] } },
        { metric: 'standard_tokens', reserve: { default: 256 }, settle: { usage: 'total' }, when: { model: ['claude-sonnet-4*', 'claude-3-5-haiku*'] } },
      ]),
      timeout_ms: 5_000,
    },
    { name: 'gemini', match: { method: 'POST', path: '/v1beta/models/*' }, upstream, provider: 'gemini', charge: metered(), timeout_ms: 5_000 },
  ],
});

/** Whole micro-dollars for token counts at `model`'s prices, rounded up once: computed here from the price list, not by the gateway's code. */
export function expectedCredits(model: PricedModel, counts: { input: number; cached?: number; cacheWrite?: number; output: number }): number {
  const p: { input: number; cached_input: number; output: number; cache_write?: number } = PRICES[model];
  const micro = counts.input * p.input + (counts.cached ?? 0) * p.cached_input + (counts.cacheWrite ?? 0) * (p.cache_write ?? p.input) + counts.output * p.output;
  return Math.ceil(micro / 1_000_000);
}
