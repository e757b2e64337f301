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

function resolve(table: PriceTable, model: string): ClassPrices | undefined {
  if (Object.hasOwn(table.models, model)) return table.models[model];
  const alias = table.aliases[model];
  if (alias !== undefined) return table.models[alias] ?? lookup(table.models, alias);
  return lookup(table.models, model);
}

/**
 * Names already resolved, per table (a policy reload brings new tables). The model that
 * answers is usually a dated name (`gpt-4o-mini-2024-07-18`) that only a glob matches, so
 * without this every request would try the globs twice. Bounded: model names come from
 * requests and responses, so past the bound the cache starts over.
 */
const resolved = new WeakMap<PriceTable, Map<string, ClassPrices | null>>();
const RESOLVED_MAX = 1_000;

/** The prices of `model`: its own entry, else its alias's, else the first glob that matches it; undefined when none. */
export function pricesOf(table: PriceTable, model: string): ClassPrices | undefined {
  let names = resolved.get(table);
  if (!names) resolved.set(table, (names = new Map()));
  const known = names.get(model);
  if (known !== undefined) return known ?? undefined;
  const prices = resolve(table, model);
  if (names.size >= RESOLVED_MAX) names.clear();
  names.set(model, prices ?? null);
  return prices;
}

/**
 * Σ amount × price, divided by `per_tokens` once and rounded up, so no fraction of a unit is
 * ever given away. Exact: in doubles while the sum stays a safe integer (the usual case), in
 * BigInt past that.
 */
function roundedUpCost(amounts: readonly number[], prices: readonly number[], perTokens: number): number {
  let total = 0;
  for (let i = 0; i < amounts.length; i++) total += amounts[i]! * prices[i]!;
  if (Number.isSafeInteger(total)) {
    const rest = total % perTokens;
    return (total - rest) / perTokens + (rest > 0 ? 1 : 0);
  }
  let big = 0n;
  for (let i = 0; i < amounts.length; i++) big += BigInt(amounts[i]!) * BigInt(prices[i]!);
  const per = BigInt(perTokens);
  return Number((big + per - 1n) / per);
}

/** What `tokens` cost at `prices`. */
export function costOf(tokens: TokenCounts, prices: ClassPrices, perTokens: number): number {
  return roundedUpCost(
    TOKEN_CLASSES.map((cls) => tokens[cls]),
    TOKEN_CLASSES.map((cls) => classPrice(prices, cls)),
    perTokens,
  );
}

/** The most `input` + `output` estimated tokens can cost: each side at the dearest class it may turn out to be. */
export function maxCostOf(estimate: { input: number; output: number }, prices: ClassPrices, perTokens: number): number {
  return roundedUpCost([estimate.input, estimate.output], [dearestOf(prices, INPUT_CLASSES), dearestOf(prices, OUTPUT_CLASSES)], perTokens);
}

const INPUT_CLASSES: readonly TokenClass[] = ['input', 'cached_input', 'cache_write'];
const OUTPUT_CLASSES: readonly TokenClass[] = ['output', 'reasoning'];

function dearestOf(prices: ClassPrices, classes: readonly TokenClass[]): number {
  let dearest = 0;
  for (const cls of classes) dearest = Math.max(dearest, classPrice(prices, cls));
  return dearest;
}
