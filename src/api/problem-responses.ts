import { z } from '@hono/zod-openapi';
import { PROBLEMS, type ProblemCode } from '../http/problem.js';

const problem = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    code: z.enum(Object.keys(PROBLEMS) as [ProblemCode, ...ProblemCode[]]),
    detail: z.string(),
    field: z.string().optional().openapi({ description: 'invalid_request: the field (or header) at fault' }),
  })
  .passthrough()
  .openapi('Problem');

/** The members a quota denial adds (SPEC "HTTP interface"). */
const quotaExceeded = problem
  .extend({
    metric: z.string(),
    limit: z.number().int().nullable(),
    used: z.number().int(),
    remaining: z.number().int().nullable(),
    requested: z.number().int(),
    resets_at: z.string().nullable().openapi({ description: 'Counters: when usage starts again at 0; gauges: null' }),
    upgrade_url: z.string(),
  })
  .openapi('QuotaExceededProblem');

/** The members a rate denial adds: the request rate (limit, retry_after_ms) or the concurrency limit (concurrency_limit, in_flight). */
const rateLimited = problem
  .extend({
    limit: z.number().int().optional(),
    retry_after_ms: z.number().int().optional(),
    concurrency_limit: z.number().int().optional(),
    in_flight: z.number().int().optional(),
  })
  .openapi('RateLimitedProblem');

/** A problem+json response declaration with its own description. */
export const problemEntry = (description: string, schema: z.ZodType = problem) => ({ description, content: { 'application/problem+json': { schema } } });

/** The problem answers of the public API, for route declarations. */
export const problems = {
  400: problemEntry('invalid_request: a field is missing or malformed (the `field` member names it)'),
  401: problemEntry('unauthorized: missing, unknown or revoked API key'),
  402: problemEntry('quota_exceeded: with metric, limit, used, remaining, requested, resets_at, upgrade_url, and the RateLimit fields', quotaExceeded),
  404: problemEntry('not_found'),
  409: problemEntry('idempotency_in_flight'),
  422: problemEntry('idempotency_mismatch'),
  413: problemEntry('payload_too_large'),
  429: problemEntry('rate_limited, with Retry-After and the RateLimit fields', rateLimited),
  502: problemEntry('upstream_error: the upstream could not be reached or gave no usable answer'),
  503: problemEntry('backend_unavailable, with Retry-After'),
  504: problemEntry('upstream_timeout'),
} as const;

export const pick = <K extends keyof typeof problems>(...codes: K[]) => Object.fromEntries(codes.map((code) => [code, problems[code]])) as Pick<typeof problems, K>;
