import { TOKEN_CLASSES, type TokenClass, type TokenCounts } from './token-usage.js';

/**
 * Model prices (policy `prices:`): whole numbers of a metric's unit per `per_tokens` tokens
 * of each class. A class without a price of its own costs what its plain class costs:
 * cached input and cache writes the input price, reasoning the output price.
 */
export type ClassPrices = { input: number; output: number } & Partial<Record<TokenClass, number>>;

export interface PriceTable {
  per_tokens: number;
  /** Model name or glob (`*` = any characters) → prices; globs are tried in file order. */
  models: Record<string, ClassPrices>;
  /** Model name → the model name or glob whose prices it has. */
  aliases: Record<string, string>;
  /** Prices of a model the table does not have, for routes with `unknown_model: default`. */
  default?: ClassPrices | undefined;
}

const FALLBACK_CLASS: Record<TokenClass, 'input' | 'output'> = {
  input: 'input',
  cached_input: 'input',
  cache_write: 'input',
  output: 'output',
  reasoning: 'output',
};

export const classPrice = (prices: ClassPrices, cls: TokenClass): number => prices[cls] ?? prices[FALLBACK_CLASS[cls]];

const globCache = new Map<string, RegExp>();
function globRegExp(glob: string): RegExp {
  let re = globCache.get(glob);
  if (!re) {
    re = new RegExp(
      `^${glob
        .split('*')
        .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('.*')}$`,
      's',
    );
    globCache.set(glob, re);
  }
  return re;
}

export const isGlob = (name: string): boolean => name.includes('*');

/** Whether `name` matches `pattern` (a plain name, or a glob with `*`). */
export const matchesName = (pattern: string, name: string): boolean => (isGlob(pattern) ? globRegExp(pattern).test(name) : pattern === name);

function lookup(models: Record<string, ClassPrices>, model: string): ClassPrices | undefined {
  const exact = models[model];
  if (exact) return exact;
  for (const [pattern, prices] of Object.entries(models)) if (isGlob(pattern) && matchesName(pattern, model)) return prices;
  return undefined;
}

/** The prices of `model`: its own entry, else its alias's, else the first glob that matches it; undefined when none. */
export function pricesOf(table: PriceTable, model: string): ClassPrices | undefined {
  if (Object.hasOwn(table.models, model)) return table.models[model];
  const alias = table.aliases[model];
  if (alias !== undefined) return table.models[alias] ?? lookup(table.models, alias);
  return lookup(table.models, model);
}

/** Exact: Σ tokens × price in BigInt, divided by `per_tokens` once and rounded up, so no fraction of a unit is ever given away. */
function roundedUp(total: bigint, perTokens: number): number {
  const per = BigInt(perTokens);
  return Number((total + per - 1n) / per);
}

/** What `tokens` cost at `prices`. */
export function costOf(tokens: TokenCounts, prices: ClassPrices, perTokens: number): number {
  let total = 0n;
  for (const cls of TOKEN_CLASSES) total += BigInt(tokens[cls]) * BigInt(classPrice(prices, cls));
  return roundedUp(total, perTokens);
}

/** The most `input` + `output` estimated tokens can cost: each side at the dearest class it may turn out to be. */
export function maxCostOf(estimate: { input: number; output: number }, prices: ClassPrices, perTokens: number): number {
  const dearest = (classes: TokenClass[]) => Math.max(...classes.map((cls) => classPrice(prices, cls)));
  const total = BigInt(estimate.input) * BigInt(dearest(['input', 'cached_input', 'cache_write'])) + BigInt(estimate.output) * BigInt(dearest(['output', 'reasoning']));
  return roundedUp(total, perTokens);
}
