import { z } from 'zod';
import { UNSTORABLE_TEXT_MESSAGE, unstorableTextPath } from '../lib/storable-text.js';
import { checkMetering, conditionSchema, pricesSchema, providerSchema, usageMeasureSchema } from './metering-policy.js';
import { looseList as list, looseRecord as record, named, requestSource, responseSource, wholeNumber, type AddIssue } from './schema-parts.js';

/**
 * The policy file: metrics, plans and routes (SPEC.md "Configuration").
 * Every object is strict so a typo is an error, not a silently ignored key.
 */

/** Metric and plan names end up inside Redis keys and Prometheus labels: keep them plain. */
export const NAME_PATTERN = /^[a-z][a-z0-9_]{0,62}$/;
export const ROUTE_NAME_PATTERN = /^[a-z][a-z0-9_-]{0,62}$/;

export const metricSchema = z.strictObject({
  kind: z.enum(['counter', 'gauge']),
  description: z.string().max(200).optional(),
});

export const rateSchema = z.strictObject({
  rps: z.number().positive('must be > 0').max(1_000_000),
  burst: z.number().int('must be a whole number').min(1, 'must be ≥ 1').max(1_000_000),
});

/** Fixed windows a counter can be limited in besides its billing period (README "Several windows per metric"). */
export const WINDOWS = { minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const;
export type WindowName = keyof typeof WINDOWS;

// A refinement, not .int(): inside the union an .int() failure aborts the branch and zod then
// reports "Invalid input" instead of what is wrong with the number.
const limitNumber = z.number().min(0, 'must be ≥ 0').refine(Number.isInteger, 'must be a whole number');

/** `{ period: 1000000, minute: 20000 }`: the period's limit (null = unlimited) and a limit per window. */
export const windowedLimitSchema = z.strictObject({
  /** Required (checkWindows): optional here only so that zod reports its absence by path. */
  period: limitNumber.nullable().optional(),
  minute: limitNumber.optional(),
  hour: limitNumber.optional(),
  day: limitNumber.optional(),
});

export const planSchema = z.strictObject({
  /** A whole number ≥ 0, or null for unlimited, or per window. Every metric must be listed. */
  limits: z.record(z.string(), z.union([limitNumber.nullable(), windowedLimitSchema])),
  rate: rateSchema.optional(),
  concurrency: z.number().int().min(1).max(100_000).optional(),
});

export const fixedChargeSchema = z.strictObject({
  metric: z.string(),
  amount: wholeNumber.min(1, 'must be ≥ 1'),
  when: conditionSchema.optional(),
});

export const reservedChargeSchema = z.strictObject({
  metric: z.string(),
  reserve: z.strictObject({
    /** Absent on a route with a `provider`: the provider's output limit field plus an estimate of the input. */
    from: requestSource.optional(),
    default: wholeNumber.min(1, 'must be ≥ 1'),
    max: wholeNumber.min(1).optional(),
  }),
  /** Exactly one: a response field, or the provider usage (checkMetering). */
  settle: z.strictObject({ from: responseSource.optional(), usage: usageMeasureSchema.optional() }),
  when: conditionSchema.optional(),
});

export const chargeSchema = z.union([fixedChargeSchema, reservedChargeSchema]);

const httpMethod = z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']);

export const routeSchema = z.strictObject({
  name: named('route name', ROUTE_NAME_PATTERN),
  match: z.strictObject({
    method: httpMethod,
    path: z.string().regex(/^\/[A-Za-z0-9._~:/*-]*$/, 'must be an absolute path pattern like /v1/items/:id'),
  }),
  upstream: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }),
  /** The provider API the route speaks: its usage readers and output limit field (README "Metering AI providers"). */
  provider: providerSchema.optional(),
  /** A model without prices: refuse the request (400), charge the reservation, or use the table's default prices. */
  unknown_model: z.enum(['deny', 'charge_reservation', 'default']).default('charge_reservation'),
  charge: z.array(chargeSchema).default([]),
  release: z.array(fixedChargeSchema).default([]),
  on_upstream_error: z.enum(['refund', 'charge']).default('refund'),
  when_redis_down: z.enum(['closed', 'open']).default('closed'),
  mode: z.enum(['enforce', 'shadow']).default('enforce'),
  timeout_ms: z.number().int().min(1).max(3_600_000).default(30_000),
  /** Routes sharing a rate class share one request-rate bucket. Default: the route's name. */
  rate_class: named('rate class', ROUTE_NAME_PATTERN).optional(),
});

/** A provider's price or product id → the plan a subscription to it is on. */
const planMap = z.record(z.string().regex(/^[A-Za-z0-9_.:-]{1,255}$/), z.string()).default({});

/** Which plan a provider's subscription is on: by price id first, then by product id. */
export const providerPlansSchema = z.strictObject({
  prices: planMap,
  products: planMap,
});

/** Stripe and Paddle subscriptions as plans (README "Stripe" and "Paddle"). */
export const billingSchema = z.strictObject({
  /** The metadata (Stripe) or custom_data (Paddle) key the operator sets to the subject id at checkout. */
  subject_key: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,40}$/, 'must be 1–40 of A–Z, a–z, 0–9, _ . -')
    .default('quotagate_subject'),
  stripe: providerPlansSchema.default({ prices: {}, products: {} }),
  paddle: providerPlansSchema.default({ prices: {}, products: {} }),
});

export const policySchema = z
  .strictObject({
    metrics: z.record(named('metric name', NAME_PATTERN), metricSchema),
    plans: z.record(named('plan name', NAME_PATTERN), planSchema),
    default_plan: z.string().optional(),
    routes: z.array(routeSchema).default([]),
    prices: pricesSchema,
    billing: billingSchema.default({ subject_key: 'quotagate_subject', stripe: { prices: {}, products: {} }, paddle: { prices: {}, products: {} } }),
  })
  // Cross-references run even when the structure has errors, so one run reports every
  // problem; they read the document defensively for that reason.
  .superRefine((policy, ctx) => checkReferences(policy as unknown as LoosePolicy, ctx.addIssue.bind(ctx)), { when: () => true });

/** Paths the gateway answers itself; no route may take them over. */
export const RESERVED_PATHS = [
  '/v1/usage',
  '/v1/usage-tokens',
  '/v1/consume',
  '/v1/check',
  '/v1/reservations',
  '/v1/release',
  '/healthz',
  '/readyz',
  '/metrics',
  '/openapi.json',
  '/docs',
  '/admin',
  '/webhooks',
];

interface LoosePolicy {
  metrics?: unknown;
  plans?: unknown;
  default_plan?: unknown;
  routes?: unknown;
  prices?: unknown;
  billing?: unknown;
}

function checkReferences(policy: LoosePolicy, addIssue: AddIssue): void {
  const issue = (path: PropertyKey[], message: string) => addIssue({ code: 'custom', path, message });
  // Names and values end up in Postgres (plans, metrics) and in ledger events.
  const unstorable = unstorableTextPath(policy);
  if (unstorable) issue(unstorable, UNSTORABLE_TEXT_MESSAGE);
  const metrics = record(policy.metrics);
  const plans = record(policy.plans);
  const metricNames = Object.keys(metrics);
  if (metricNames.length === 0) issue(['metrics'], 'at least one metric is required');
  if (Object.keys(plans).length === 0) issue(['plans'], 'at least one plan is required');

  for (const [planName, plan] of Object.entries(plans)) {
    const limits = record(record(plan).limits);
    for (const metric of Object.keys(limits)) {
      if (!(metric in metrics)) issue(['plans', planName, 'limits', metric], `unknown metric "${metric}"`);
    }
    for (const metric of metricNames) {
      if (!(metric in limits)) issue(['plans', planName, 'limits', metric], 'missing: every metric needs a limit (a whole number, or null for unlimited)');
    }
    for (const [metric, limit] of Object.entries(limits))
      checkWindows(limit, record(metrics[metric]).kind, (key, message) => issue(['plans', planName, 'limits', metric, key], message));
  }
  if (typeof policy.default_plan === 'string' && !(policy.default_plan in plans)) {
    issue(['default_plan'], `unknown plan "${policy.default_plan}"`);
  }
  for (const provider of ['stripe', 'paddle']) {
    for (const kind of ['prices', 'products']) {
      for (const [id, plan] of Object.entries(record(record(record(policy.billing)[provider])[kind]))) {
        if (!(String(plan) in plans)) issue(['billing', provider, kind, id], `unknown plan "${String(plan)}"`);
      }
    }
  }

  const routeNames = new Set<unknown>();
  const matches = new Set<string>();
  list(policy.routes).forEach((raw, i) => {
    const route = record(raw);
    if (routeNames.has(route.name)) issue(['routes', i, 'name'], `duplicate route name "${String(route.name)}"`);
    routeNames.add(route.name);
    const match = record(route.match);
    const key = `${String(match.method)} ${String(match.path)}`;
    if (matches.has(key)) issue(['routes', i, 'match'], `duplicate match "${key}"`);
    matches.add(key);
    const path = typeof match.path === 'string' ? match.path : '';
    const reserved = RESERVED_PATHS.find((r) => path === r || path.startsWith(`${r}/`));
    if (reserved) issue(['routes', i, 'match', 'path'], `"${reserved}" is served by the gateway itself`);
    const charged = new Set<unknown>();
    list(route.charge).forEach((charge, j) => {
      const metric = record(charge).metric;
      if (typeof metric !== 'string') return;
      if (!(metric in metrics)) issue(['routes', i, 'charge', j, 'metric'], `unknown metric "${metric}"`);
      if (charged.has(metric)) issue(['routes', i, 'charge', j, 'metric'], `metric "${metric}" charged twice`);
      charged.add(metric);
    });
    list(route.release).forEach((release, j) => {
      const metric = record(release).metric;
      if (typeof metric !== 'string') return;
      const def = metrics[metric];
      if (def === undefined) issue(['routes', i, 'release', j, 'metric'], `unknown metric "${metric}"`);
      else if (record(def).kind !== 'gauge') issue(['routes', i, 'release', j, 'metric'], `only gauge metrics can be released; "${metric}" is a counter`);
    });
  });
  checkMetering(policy, issue);
}

/**
 * Windows only for counters, and each must be able to bind: a window's limit above that of a
 * longer window (or of the period) could never be reached, which is a mistake in the numbers.
 */
function checkWindows(raw: unknown, kind: unknown, issue: (key: string, message: string) => void): void {
  if (raw === null || typeof raw !== 'object') return;
  const limit = record(raw);
  if (!('period' in limit)) issue('period', 'required: the billing period’s limit (a whole number, or null for unlimited)');
  const windows = (Object.keys(WINDOWS) as WindowName[]).filter((w) => typeof limit[w] === 'number');
  if (windows.length === 0) return;
  if (kind === 'gauge') {
    issue(windows[0]!, 'windows need a counter metric (a gauge is a level, not usage over time)');
    return;
  }
  let longer: { name: string; limit: number } | undefined = typeof limit.period === 'number' ? { name: 'period', limit: limit.period } : undefined;
  for (const w of [...windows].reverse()) {
    const value = limit[w] as number;
    if (longer && value > longer.limit) issue(w, `${value} per ${w} is above the ${longer.name} limit (${longer.limit}) and could never be reached`);
    longer = { name: w, limit: value };
  }
}

export type PolicyInput = z.input<typeof policySchema>;
export type Policy = z.output<typeof policySchema>;
export type MetricDef = z.output<typeof metricSchema>;
export type MetricKind = MetricDef['kind'];
export type PlanDef = z.output<typeof planSchema>;
export type LimitDef = PlanDef['limits'][string];

/** A plan limit's billing-period part: a whole number, or null for unlimited. */
export const periodLimit = (limit: LimitDef): number | null => (limit !== null && typeof limit === 'object' ? (limit.period ?? null) : limit);

/** A plan limit's windows, shortest first. */
export function windowsOf(limit: LimitDef | undefined): { window: WindowName; ms: number; limit: number }[] {
  if (limit === null || typeof limit !== 'object') return [];
  return (Object.keys(WINDOWS) as WindowName[]).flatMap((w) => (limit[w] === undefined ? [] : [{ window: w, ms: WINDOWS[w], limit: limit[w] }]));
}
export type RateDef = z.output<typeof rateSchema>;
export type RouteDef = z.output<typeof routeSchema>;
export type ChargeDef = z.output<typeof chargeSchema>;
export type FixedChargeDef = z.output<typeof fixedChargeSchema>;
export type ReservedChargeDef = z.output<typeof reservedChargeSchema>;
export type ProviderPlans = z.output<typeof providerPlansSchema>;

export type UsageSettleDef = ReservedChargeDef['settle'] & { usage: NonNullable<ReservedChargeDef['settle']['usage']> };

export const isReserved = (charge: ChargeDef): charge is ReservedChargeDef => 'reserve' in charge;
export const settlesFromUsage = (settle: ReservedChargeDef['settle']): settle is UsageSettleDef => settle.usage !== undefined;

/** The plan a subject falls back to (cancellation, unknown plan): `default_plan`, else the first plan. */
export function defaultPlanName(policy: Policy): string {
  return policy.default_plan ?? Object.keys(policy.plans)[0]!;
}
