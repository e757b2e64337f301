import { z, type OpenAPIHono } from '@hono/zod-openapi';
import { isReserved, type RouteDef } from '../config/policy.js';
import { pick } from '../api/problem-responses.js';

/** What a route costs, in words, for its OpenAPI description. */
function costOf(route: RouteDef): string {
  const charges = route.charge.map((c) =>
    isReserved(c)
      ? `${c.metric}: reserves ${c.reserve.from ?? `the ${route.provider ?? ''} output limit and input estimate`} (default ${c.reserve.default}), settles from ${c.settle.from ?? `the ${route.provider ?? ''} usage (${c.settle.usage})`}`
      : `${c.metric}: ${c.amount}`,
  );
  const releases = route.release.map((r) => `releases ${r.metric}: ${r.amount} after a 2xx`);
  return [...charges, ...releases].join('; ') || 'nothing (rate and concurrency limits only)';
}

/**
 * Declares the policy's proxied routes in the OpenAPI document: their bodies belong to the
 * upstream, so only what the gateway adds (auth, cost, its problem answers) is described.
 */
export function registerRouteDocs(registry: OpenAPIHono['openAPIRegistry'], routes: readonly RouteDef[]): void {
  for (const route of routes) {
    const params = [...route.match.path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]!);
    registry.registerPath({
      method: route.match.method.toLowerCase() as 'get',
      // Hono's `:id` is OpenAPI's `{id}`; a `*` wildcard is shown as it is.
      path: route.match.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}'),
      summary: `Proxied to ${route.upstream} (route ${route.name}${route.mode === 'shadow' ? ', shadow mode' : ''})`,
      description: `Costs ${costOf(route)}. On upstream failure: ${route.on_upstream_error}. When Redis is down: ${route.when_redis_down}.`,
      security: [{ apiKey: [] }],
      request: params.length > 0 ? { params: z.object(Object.fromEntries(params.map((p) => [p, z.string()]))) } : {},
      responses: {
        200: { description: "The upstream's response, streamed (RateLimit headers added)" },
        ...pick(400, 401, 402, 409, 413, 422, 429, 502, 503, 504),
      },
    });
  }
}
