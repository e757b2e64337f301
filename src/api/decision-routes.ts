import { createHash } from 'node:crypto';
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { decisionHeaders, decisionProblem, usageJson } from '../http/decision-answer.js';
import type { GatewayDeps } from '../http/gateway-deps.js';
import { apiIdempotencyKey } from '../http/idempotency-key.js';
import type { Allowed, Charge, Decision, MetricUsage } from '../quota/types.js';
import { subjectRef } from '../subjects/subject-ref.js';
import { decide } from './backend.js';
import { pick } from './problem-responses.js';
import type { ApiSchemas } from './schemas.js';

/** Requests on the decision API share one rate bucket per subject. */
export const API_RATE_CLASS = 'api';

const decisionJson = (requestId: string | null, metrics: readonly MetricUsage[]) => ({
  allowed: true as const,
  request_id: requestId,
  metrics: metrics.map(usageJson),
});

/** POST /v1/consume and POST /v1/check: the engine's decision, for backends that meet the request themselves. */
export function registerDecisionRoutes(app: OpenAPIHono, deps: GatewayDeps, schemas: ApiSchemas): void {
  const decided = z.object({ allowed: z.literal(true), request_id: z.string().nullable(), metrics: z.array(schemas.metricUsage) }).openapi('Decision');
  const consume = createRoute({
    method: 'post',
    path: '/v1/consume',
    summary: 'Decide and apply a charge of one or more metrics, all or nothing',
    security: [{ apiKey: [] }],
    request: { body: { content: { 'application/json': { schema: schemas.decisionBody } }, required: true } },
    responses: {
      200: { description: 'Allowed and charged (Idempotent-Replayed: true on a replay)', content: { 'application/json': { schema: decided } } },
      ...pick(400, 401, 402, 409, 422, 429, 503),
    },
  });
  const check = createRoute({
    method: 'post',
    path: '/v1/check',
    summary: 'Decide a charge without applying it',
    security: [{ apiKey: [] }],
    request: { body: { content: { 'application/json': { schema: schemas.decisionBody } }, required: true } },
    responses: {
      200: {
        description: 'The decision consume would make now; nothing is charged',
        content: {
          'application/json': {
            schema: z
              .object({
                allowed: z.boolean(),
                reason: z.enum(['quota', 'rate', 'concurrency']).optional(),
                metric: z.string().optional(),
                metrics: z.array(schemas.metricUsage),
              })
              .openapi('CheckResult'),
          },
        },
      },
      ...pick(400, 401, 503),
    },
  });

  app.openapi(consume, async (c) => {
    const body = c.req.valid('json');
    const key = apiIdempotencyKey(c.req.raw.headers, body.idempotency_key);
    const charges: Charge[] = body.charges;
    const decision = await decide(c, deps, 'api:consume', () =>
      deps.engine.consume({
        subject: subjectRef(c.get('owner').subject),
        charges,
        requestId: c.get('requestId'),
        rateClass: API_RATE_CLASS,
        idempotency: key ? { key, fingerprint: chargeFingerprint('consume', charges) } : undefined,
        context: { route: 'api:consume', key: c.get('owner').keyId },
      }),
    );
    const answer = answerDecision(deps, decision);
    return c.json(decisionJson(answer.decision.requestId, answer.decision.metrics), 200, answer.headers);
  });

  app.openapi(check, async (c) => {
    const body = c.req.valid('json');
    const decision = await decide(c, deps, 'api:check', () => deps.engine.check({ subject: subjectRef(c.get('owner').subject), charges: body.charges, rateClass: API_RATE_CLASS }));
    const headers = decisionHeaders(decision, deps.clock.now());
    if (decision.outcome === 'allowed') return c.json({ allowed: true, metrics: decision.metrics.map(usageJson) }, 200, headers);
    if (decision.outcome !== 'denied') throw new Error(`check answered ${decision.outcome}`);
    return c.json(
      {
        allowed: false,
        reason: decision.reason,
        ...(decision.reason === 'quota' ? { metric: decision.metric } : {}),
        metrics: decision.reason === 'quota' ? decision.metrics.map(usageJson) : [],
      },
      200,
      headers,
    );
  });
}

/** What makes two decisions with one idempotency key the same request: the operation (and its options) and the charges. */
export function chargeFingerprint(operation: string, charges: readonly Pick<Charge, 'metric' | 'amount'>[]): string {
  return createHash('sha256')
    .update(`${operation}\n${JSON.stringify(charges.map((ch) => [ch.metric, ch.amount]))}`)
    .digest('base64url');
}

/**
 * Turns a consume decision into its answer: a denial or idempotency outcome is thrown as its
 * problem; an allowed (or replayed) decision comes back with its RateLimit headers.
 */
export function answerDecision(deps: GatewayDeps, decision: Decision): { decision: Allowed; headers: Record<string, string> } {
  const now = deps.clock.now();
  const problem = decisionProblem(decision, { now, upgradeUrl: deps.settings.upgradeUrl });
  if (problem) throw problem;
  const headers = decisionHeaders(decision, now);
  if (decision.outcome === 'replayed') return { decision: decision.original, headers: { ...headers, 'idempotent-replayed': 'true' } };
  if (decision.outcome !== 'allowed') throw new Error(`consume answered ${decision.outcome}`);
  return { decision, headers };
}
