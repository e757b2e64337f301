import { z } from '@hono/zod-openapi';

const problem = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    code: z.string(),
    detail: z.string(),
  })
  .passthrough()
  .openapi('Problem');

const entry = (description: string) => ({ description, content: { 'application/problem+json': { schema: problem } } });

/** The problem answers of the public API, for route declarations. */
export const problems = {
  400: entry('invalid_request: a field is missing or malformed (the `field` member names it)'),
  401: entry('unauthorized: missing, unknown or revoked API key'),
  402: entry('quota_exceeded: with metric, limit, used, remaining, resets_at, upgrade_url'),
  404: entry('not_found'),
  409: entry('idempotency_in_flight'),
  422: entry('idempotency_mismatch'),
  413: entry('payload_too_large'),
  429: entry('rate_limited, with Retry-After'),
  502: entry('upstream_error: the upstream could not be reached'),
  503: entry('backend_unavailable, with Retry-After'),
  504: entry('upstream_timeout'),
} as const;

export const pick = <K extends keyof typeof problems>(...codes: K[]) =>
  Object.fromEntries(codes.map((code) => [code, problems[code]])) as Pick<typeof problems, K>;
