import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { mintUsageToken, USAGE_TOKEN_DEFAULT_TTL_SECONDS, USAGE_TOKEN_MAX_TTL_SECONDS, USAGE_TOKEN_MIN_TTL_SECONDS } from '../auth/usage-token.js';
import type { GatewayDeps } from '../http/gateway-deps.js';
import { ProblemError } from '../http/problem.js';
import { pick, problemEntry } from './problem-responses.js';

/**
 * POST /v1/usage-tokens: the app's backend (with the subject's API key) mints a short-lived,
 * read-only token for its frontend, which may read that subject's usage with it and nothing
 * else (see src/auth/usage-token.ts).
 */
export function registerUsageTokenRoutes(app: OpenAPIHono, deps: GatewayDeps): void {
  const body = z
    .strictObject({
      ttl_seconds: z
        .number()
        .int('must be a whole number')
        .min(USAGE_TOKEN_MIN_TTL_SECONDS, `must be at least ${USAGE_TOKEN_MIN_TTL_SECONDS}`)
        .max(USAGE_TOKEN_MAX_TTL_SECONDS, `must be at most ${USAGE_TOKEN_MAX_TTL_SECONDS}`)
        .optional()
        .openapi({ description: `Lifetime in seconds (default ${USAGE_TOKEN_DEFAULT_TTL_SECONDS})` }),
    })
    .openapi('UsageTokenRequest');
  const route = createRoute({
    method: 'post',
    path: '/v1/usage-tokens',
    summary: "Mint a short-lived, read-only token for a browser to read this key's subject's usage (GET /v1/usage, /v1/usage/stream)",
    security: [{ apiKey: [] }],
    request: { body: { content: { 'application/json': { schema: body } }, required: false } },
    responses: {
      201: {
        description: 'The token; send it as "Authorization: Bearer <token>"',
        content: {
          'application/json': {
            schema: z.object({ token: z.string(), subject: z.string(), scope: z.literal('usage:read'), expires_at: z.string() }).openapi('UsageToken'),
          },
        },
      },
      ...pick(400, 401, 503),
      403: problemEntry('forbidden: usage tokens are off (QG_USAGE_TOKEN_SECRET is not set)'),
    },
  });
  app.openapi(route, async (c) => {
    const secret = deps.settings.usageTokenSecret;
    if (secret === null) throw new ProblemError('forbidden', 'usage tokens are off on this gateway: its operator has not set QG_USAGE_TOKEN_SECRET');
    const ttl = c.req.valid('json')?.ttl_seconds ?? USAGE_TOKEN_DEFAULT_TTL_SECONDS;
    const subject = c.get('owner').subject.id;
    const issuedAt = Math.floor(deps.clock.now() / 1000);
    const token = mintUsageToken(secret, { subject, issuedAt, expiresAt: issuedAt + ttl });
    return c.json({ token, subject, scope: 'usage:read' as const, expires_at: new Date((issuedAt + ttl) * 1000).toISOString() }, 201, {
      'cache-control': 'no-store',
    });
  });
}
