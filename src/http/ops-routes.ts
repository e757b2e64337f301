import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { GatewayDeps } from './gateway-deps.js';

/** Liveness, readiness and Prometheus metrics: unauthenticated, for orchestrators and scrapers. */
export function registerOpsRoutes(app: OpenAPIHono, deps: GatewayDeps): void {
  const status = z.object({ status: z.enum(['ok', 'unavailable']), checks: z.record(z.string(), z.boolean()).optional() }).openapi('Health');
  const healthz = createRoute({
    method: 'get',
    path: '/healthz',
    summary: 'Liveness: the process answers',
    responses: { 200: { description: 'Alive', content: { 'application/json': { schema: status } } } },
  });
  const readyz = createRoute({
    method: 'get',
    path: '/readyz',
    summary: 'Readiness: Redis answers with every script loaded, Postgres answers',
    responses: {
      200: { description: 'Ready', content: { 'application/json': { schema: status } } },
      503: { description: 'A dependency is not ready (see checks)', content: { 'application/json': { schema: status } } },
    },
  });
  const metrics = createRoute({
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus metrics',
    responses: { 200: { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: z.string() } } } },
  });

  app.openapi(healthz, (c) => c.json({ status: 'ok' as const }, 200));
  app.openapi(readyz, async (c) => {
    const checks = await deps.readiness();
    const ready = Object.values(checks).every(Boolean);
    return ready ? c.json({ status: 'ok' as const, checks }, 200) : c.json({ status: 'unavailable' as const, checks }, 503);
  });
  app.openapi(metrics, async (c) => c.text(await deps.metrics.exposition(), 200, { 'content-type': deps.metrics.registry.contentType }));
}
