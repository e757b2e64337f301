import { z } from 'zod';
import { PROVIDER_NAMES } from '../metering/providers.js';
import { isGlob, matchesName } from '../metering/prices.js';
import { TOKEN_MEASURES } from '../metering/token-usage.js';
import { looseList as list, looseRecord as record, wholeNumber, type Loose } from './schema-parts.js';

/**
 * The policy's metering of AI provider APIs (README "Metering AI providers"): the provider
 * a route speaks, model prices, charges settled from the usage the provider reports, and
 * charges that depend on request fields.
 */

export const providerSchema = z.enum(PROVIDER_NAMES, { error: `must be one of ${PROVIDER_NAMES.join(', ')}` });

/** A reserved charge settled from the provider's usage: a token measure, or its cost at the metric's prices. */
const USAGE_MEASURES = [...TOKEN_MEASURES, 'price'] as const;
export type UsageMeasure = (typeof USAGE_MEASURES)[number];
// A regex rather than z.enum: inside the charge union an enum failure aborts the branch and
// zod then reports the whole charge as "Invalid input" instead of this field.
export const usageMeasureSchema = z
  .string()
  .regex(new RegExp(`^(${USAGE_MEASURES.join('|')})$`), `must be one of ${USAGE_MEASURES.join(', ')}`)
  .transform((v) => v as UsageMeasure);

const CONDITION_FIELD = /^(model|(body|query|header)\.[A-Za-z0-9_.-]+)$/;

/**
 * `{ model: ["gpt-4o*"], header.x-tier: [gold] }`: every field must have one of its values
 * (`*` globs). `model` is the model the request names, then the one that answered.
 */
export const conditionSchema = z.record(z.string(), z.array(z.string().min(1)).min(1, 'must list at least one value'));

const classPricesSchema = z.strictObject({
  input: wholeNumber,
  output: wholeNumber,
  cached_input: wholeNumber.optional(),
  cache_write: wholeNumber.optional(),
  reasoning: wholeNumber.optional(),
});

const priceTableSchema = z.strictObject({
  per_tokens: z.union([z.literal(1), z.literal(1_000), z.literal(1_000_000)], { error: 'must be 1, 1000 or 1000000' }).default(1_000_000),
  models: z.record(z.string().min(1).max(200), classPricesSchema),
  aliases: z.record(z.string().min(1).max(200), z.string()).default({}),
  default: classPricesSchema.optional(),
});

/** Metric (a counter, in the unit the operator picks) → model prices in it. */
export const pricesSchema = z.record(z.string(), priceTableSchema).default({});

type Issue = (path: PropertyKey[], message: string) => void;

/** Cross-references of the metering parts; reads the document defensively (see policy.ts). */
export function checkMetering(policy: { metrics?: unknown; routes?: unknown; prices?: unknown }, issue: Issue): void {
  const metrics = record(policy.metrics);
  const prices = record(policy.prices);
  for (const [metric, rawTable] of Object.entries(prices)) {
    const def = metrics[metric];
    if (def === undefined) issue(['prices', metric], `unknown metric "${metric}"`);
    else if (record(def).kind !== 'counter') issue(['prices', metric], `prices need a counter metric; "${metric}" is a gauge`);
    const table = record(rawTable);
    const models = record(table.models);
    for (const [alias, target] of Object.entries(record(table.aliases))) {
      if (typeof target === 'string' && !(target in models)) issue(['prices', metric, 'aliases', alias], `unknown model "${target}" (not in prices.${metric}.models)`);
    }
  }
  list(policy.routes).forEach((raw, i) => checkRoute(record(raw), i, prices, issue));
}

function checkRoute(route: Loose, i: number, prices: Loose, issue: Issue): void {
  const provider = route.provider;
  list(route.charge).forEach((raw, j) => {
    const charge = record(raw);
    const at = ['routes', i, 'charge', j];
    // Checked here rather than as the record's key schema, whose failure zod reports as the whole charge's.
    for (const field of Object.keys(record(charge.when))) {
      if (!CONDITION_FIELD.test(field)) issue([...at, 'when', field], 'must be model, body.<path>, query.<name> or header.<name>');
    }
    if ('model' in record(charge.when) && provider === undefined) issue([...at, 'when', 'model'], 'needs the route to name its provider (provider: openai_chat, …)');
    if (!('reserve' in charge)) return;
    const settle = record(charge.settle);
    const usage = settle.usage;
    const reserve = record(charge.reserve);
    if ((settle.from === undefined) === (usage === undefined)) issue([...at, 'settle'], 'must have exactly one of from (a response field) and usage (the provider usage)');
    if (usage === undefined) {
      if (reserve.from === undefined) issue([...at, 'reserve', 'from'], 'required unless the charge settles from the provider usage (settle.usage)');
      return;
    }
    if (provider === undefined) issue([...at, 'settle', 'usage'], 'needs the route to name its provider (provider: openai_chat, …)');
    if (usage !== 'price' || typeof charge.metric !== 'string') return;
    const table = prices[charge.metric];
    if (table === undefined) {
      issue([...at, 'settle', 'usage'], `no prices for metric "${charge.metric}" (prices.${charge.metric})`);
      return;
    }
    if (route.unknown_model === 'default' && record(table).default === undefined) {
      issue(['routes', i, 'unknown_model'], `"default" needs prices.${charge.metric}.default`);
    }
    if ((route.unknown_model ?? 'charge_reservation') === 'charge_reservation' && reserve.max === undefined) {
      issue([...at, 'reserve', 'max'], 'required for a priced charge with unknown_model: charge_reservation (an unknown model reserves max)');
    }
  });
}

/**
 * What `config check` warns about without refusing the file: models a priced route's
 * conditions name that its prices do not have (they are charged as unknown models), and
 * price tables no route uses.
 */
export function meteringWarnings(policy: {
  routes: readonly { name: string; unknown_model: string; charge: readonly { metric: string; settle?: object; when?: Record<string, string[]> | undefined }[] }[];
  prices: Record<string, { models: Record<string, unknown>; aliases: Record<string, string> }>;
}): string[] {
  const warnings: string[] = [];
  const used = new Set<string>();
  for (const route of policy.routes) {
    const priced = route.charge.filter((c) => c.settle !== undefined && 'usage' in c.settle && c.settle.usage === 'price').map((c) => c.metric);
    priced.forEach((m) => used.add(m));
    const models = route.charge.flatMap((c) => c.when?.model ?? []).filter((m) => !isGlob(m));
    for (const metric of priced) {
      const table = policy.prices[metric]!;
      for (const model of new Set(models)) {
        const known = model in table.models || model in table.aliases || Object.keys(table.models).some((p) => isGlob(p) && matchesName(p, model));
        if (!known) warnings.push(`routes.${route.name}: model "${model}" has no price in prices.${metric} (unknown_model: ${route.unknown_model} applies)`);
      }
    }
  }
  for (const metric of Object.keys(policy.prices)) if (!used.has(metric)) warnings.push(`prices.${metric}: no route settles a price in it`);
  return warnings;
}
