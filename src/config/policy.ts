import { z } from 'zod';

/**
 * The policy file: metrics, plans and routes (SPEC.md "Configuration").
 * Every object is strict so a typo is an error, not a silently ignored key.
 */

/** Metric and plan names end up inside Redis keys and Prometheus labels: keep them plain. */
export const NAME_PATTERN = /^[a-z][a-z0-9_]{0,62}$/;
export const ROUTE_NAME_PATTERN = /^[a-z][a-z0-9_-]{0,62}$/;
const named = (what: string, pattern: RegExp) =>
  z.string().regex(pattern, `${what} must match ${pattern.source}`);

const wholeNumber = z.number().int('must be a whole number').min(0, 'must be ≥ 0');

export const metricSchema = z.strictObject({
  kind: z.enum(['counter', 'gauge']),
  description: z.string().max(200).optional(),
});

export const rateSchema = z.strictObject({
  rps: z.number().positive('must be > 0').max(1_000_000),
  burst: z.number().int('must be a whole number').min(1, 'must be ≥ 1').max(1_000_000),
});

export const planSchema = z.strictObject({
  /** A whole number ≥ 0, or null for unlimited. Every metric must be listed. */
  limits: z.record(z.string(), wholeNumber.nullable()),
  rate: rateSchema.optional(),
  concurrency: z.number().int().min(1).max(100_000).optional(),
});

/**
 * Where a value is read from: `body.<json path>` / `query.<name>` / `header.<name>` on the
 * request, `response.<json path>` / `header.<name>` on the response.
 */
const requestSource = z
  .string()
  .regex(/^(body|query|header)\.[A-Za-z0-9_.-]+$/, 'must be body.<path>, query.<name> or header.<name>');
const responseSource = z
  .string()
  .regex(/^(response|header)\.[A-Za-z0-9_.-]+$/, 'must be response.<path> or header.<name>');

export const fixedChargeSchema = z.strictObject({
  metric: z.string(),
  amount: wholeNumber.min(1, 'must be ≥ 1'),
});

export const reservedChargeSchema = z.strictObject({
  metric: z.string(),
  reserve: z.strictObject({
    from: requestSource,
    default: wholeNumber.min(1, 'must be ≥ 1'),
    max: wholeNumber.min(1).optional(),
  }),
  settle: z.strictObject({ from: responseSource }),
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
  charge: z.array(chargeSchema).default([]),
  release: z.array(fixedChargeSchema).default([]),
  on_upstream_error: z.enum(['refund', 'charge']).default('refund'),
  when_redis_down: z.enum(['closed', 'open']).default('closed'),
  mode: z.enum(['enforce', 'shadow']).default('enforce'),
  timeout_ms: z.number().int().min(1).max(3_600_000).default(30_000),
  /** Routes sharing a rate class share one request-rate bucket. Default: the route's name. */
  rate_class: named('rate class', ROUTE_NAME_PATTERN).optional(),
});

export const policySchema = z
  .strictObject({
    metrics: z.record(named('metric name', NAME_PATTERN), metricSchema),
    plans: z.record(named('plan name', NAME_PATTERN), planSchema),
    default_plan: z.string().optional(),
    routes: z.array(routeSchema).default([]),
  })
  .superRefine((policy, ctx) => {
    const metricNames = Object.keys(policy.metrics);
    const known = new Set(metricNames);
    if (metricNames.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['metrics'], message: 'at least one metric is required' });
    }
    const planNames = Object.keys(policy.plans);
    if (planNames.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['plans'], message: 'at least one plan is required' });
    }
    for (const [planName, plan] of Object.entries(policy.plans)) {
      for (const metric of Object.keys(plan.limits)) {
        if (!known.has(metric)) {
          ctx.addIssue({ code: 'custom', path: ['plans', planName, 'limits', metric], message: `unknown metric "${metric}"` });
        }
      }
      for (const metric of metricNames) {
        if (!(metric in plan.limits)) {
          ctx.addIssue({
            code: 'custom',
            path: ['plans', planName, 'limits', metric],
            message: 'missing: every metric needs a limit (a whole number, or null for unlimited)',
          });
        }
      }
    }
    if (policy.default_plan !== undefined && !(policy.default_plan in policy.plans)) {
      ctx.addIssue({ code: 'custom', path: ['default_plan'], message: `unknown plan "${policy.default_plan}"` });
    }
    const routeNames = new Set<string>();
    const matches = new Set<string>();
    policy.routes.forEach((route, i) => {
      if (routeNames.has(route.name)) {
        ctx.addIssue({ code: 'custom', path: ['routes', i, 'name'], message: `duplicate route name "${route.name}"` });
      }
      routeNames.add(route.name);
      const match = `${route.match.method} ${route.match.path}`;
      if (matches.has(match)) {
        ctx.addIssue({ code: 'custom', path: ['routes', i, 'match'], message: `duplicate match "${match}"` });
      }
      matches.add(match);
      const charged = new Set<string>();
      route.charge.forEach((charge, j) => {
        if (!known.has(charge.metric)) {
          ctx.addIssue({ code: 'custom', path: ['routes', i, 'charge', j, 'metric'], message: `unknown metric "${charge.metric}"` });
        }
        if (charged.has(charge.metric)) {
          ctx.addIssue({ code: 'custom', path: ['routes', i, 'charge', j, 'metric'], message: `metric "${charge.metric}" charged twice` });
        }
        charged.add(charge.metric);
      });
      route.release.forEach((release, j) => {
        const metric = policy.metrics[release.metric];
        if (!metric) {
          ctx.addIssue({ code: 'custom', path: ['routes', i, 'release', j, 'metric'], message: `unknown metric "${release.metric}"` });
        } else if (metric.kind !== 'gauge') {
          ctx.addIssue({ code: 'custom', path: ['routes', i, 'release', j, 'metric'], message: `only gauge metrics can be released; "${release.metric}" is a counter` });
        }
      });
    });
  });

export type PolicyInput = z.input<typeof policySchema>;
export type Policy = z.output<typeof policySchema>;
export type MetricDef = z.output<typeof metricSchema>;
export type MetricKind = MetricDef['kind'];
export type PlanDef = z.output<typeof planSchema>;
export type RateDef = z.output<typeof rateSchema>;
export type RouteDef = z.output<typeof routeSchema>;
export type ChargeDef = z.output<typeof chargeSchema>;
export type FixedChargeDef = z.output<typeof fixedChargeSchema>;
export type ReservedChargeDef = z.output<typeof reservedChargeSchema>;

export const isReserved = (charge: ChargeDef): charge is ReservedChargeDef => 'reserve' in charge;

/** The plan a subject falls back to (cancellation, unknown plan): `default_plan`, else the first plan. */
export function defaultPlanName(policy: Policy): string {
  return policy.default_plan ?? Object.keys(policy.plans)[0]!;
}
