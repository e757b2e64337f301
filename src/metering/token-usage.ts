/**
 * Token usage as every provider's reader reports it: five disjoint classes whose sum is
 * everything the provider counted, so a metric can be charged the total, the input side or
 * the output side, and a price applies once per token.
 */

export const TOKEN_CLASSES = ['input', 'cached_input', 'cache_write', 'output', 'reasoning'] as const;
export type TokenClass = (typeof TOKEN_CLASSES)[number];
export type TokenCounts = Record<TokenClass, number>;

/** What a route's charge counts of the usage (a price is applied in prices.ts). */
export const TOKEN_MEASURES = ['total', 'input', 'output'] as const;
export type TokenMeasure = (typeof TOKEN_MEASURES)[number];

const MEASURED: Record<TokenMeasure, readonly TokenClass[]> = {
  total: TOKEN_CLASSES,
  // Cache reads and writes are input the provider did not bill at the plain rate, but input all the same.
  input: ['input', 'cached_input', 'cache_write'],
  // Reasoning ("thinking") tokens are generated output the client does not see.
  output: ['output', 'reasoning'],
};

/** The usage of one response, and the model that actually answered (after any fallback). */
export interface MeteredUsage {
  model: string | undefined;
  tokens: TokenCounts;
}

export function measureTokens(tokens: TokenCounts, measure: TokenMeasure): number {
  return MEASURED[measure].reduce((sum, cls) => sum + tokens[cls], 0);
}

/** A provider's count field: a whole number ≥ 0, else undefined (absent, null, or malformed). */
export function tokenCount(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}

/**
 * Counts whose `part` is included in `whole` by the provider (cached in prompt, reasoning in
 * completion): the rest of the whole, never below 0 even when a provider over-reports the part.
 */
export const rest = (whole: number, part: number): number => Math.max(0, whole - part);

export const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
