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

/** A problem+json response declaration with its own description. */
export const problemEntry = (description: string) => ({ description, content: { 'application/problem+json': { schema: problem } } });

/** The problem answers of the public API, for route declarations. */
export const problems = {
  400: problemEntry('invalid_request: a field is missing or malformed (the `field` member names it)'),
  401: problemEntry('unauthorized: missing, unknown or revoked API key'),
  402: problemEntry('quota_exceeded: with metric, limit, used, remaining, resets_at, upgrade_url'),
  404: problemEntry('not_found'),
  409: problemEntry('idempotency_in_flight'),
  422: problemEntry('idempotency_mismatch'),
  413: problemEntry('payload_too_large'),
  429: problemEntry('rate_limited, with Retry-After'),
  502: problemEntry('upstream_error: the upstream could not be reached'),
  503: problemEntry('backend_unavailable, with Retry-After'),
  504: problemEntry('upstream_timeout'),
} as const;

export const pick = <K extends keyof typeof problems>(...codes: K[]) => Object.fromEntries(codes.map((code) => [code, problems[code]])) as Pick<typeof problems, K>;
