import { OpenAPIHono, z } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import type { AdminRouteDeps } from '../admin/admin-deps.js';
import { registerAdminRoutes } from '../admin/admin-routes.js';
import { registerAdminUi } from '../admin/ui/admin-ui.js';
import { registerBillingWebhookRoute } from '../billing/billing-webhook-route.js';
import { registerDecisionRoutes } from '../api/decision-routes.js';
import { registerReleaseRoutes } from '../api/release-routes.js';
import { registerReservationRoutes } from '../api/reservation-routes.js';
import { apiSchemas } from '../api/schemas.js';
import { registerUsageRoutes } from '../api/usage-routes.js';
import { registerUsageStreamRoute } from '../api/usage-stream-route.js';
import { registerUsageTokenRoutes } from '../api/usage-token-routes.js';
import { usageCors } from '../http/usage-cors.js';
import { validationHook } from '../api/validation-hook.js';
import { proxyRoute, type ProxyDeps } from '../proxy/proxy-route.js';
import { registerRouteDocs } from '../proxy/route-docs.js';
import { authenticate, authenticateReader } from '../http/authenticate.js';
import { docsPage } from '../http/docs-page.js';
import { errorHandler, notFound } from '../http/errors.js';
import { registerOpsRoutes } from '../http/ops-routes.js';
import { ProblemError } from '../http/problem.js';
import { requestContext } from '../http/request-context.js';

/** The public decision API's paths; each needs an API key. */
export const API_PATHS = ['/v1/consume', '/v1/check', '/v1/reservations', '/v1/reservations/*', '/v1/release', '/v1/usage-tokens'];
/** The read-only usage endpoints: an API key or a usage token, and CORS for the configured origins. */
export const USAGE_PATHS = ['/v1/usage', '/v1/usage/stream'];

const OPENAPI_INFO = {
  openapi: '3.1.0',
  info: {
    title: 'quotagate',
    version: '0.1.0',
    description: 'Rate-limit and usage-quota gateway: atomic decisions in Redis, a durable ledger in Postgres.',
  },
};

/**
 * The gateway's HTTP app: operations, the public decision API, and one proxied route per
 * policy route. Every error is problem+json.
 */
/** Everything the gateway's routes use: the HTTP layer's own, the proxy's and the admin side's. */
export type AppDeps = ProxyDeps & AdminRouteDeps;

export function createApp(deps: AppDeps): OpenAPIHono {
  const app = new OpenAPIHono({ defaultHook: validationHook });
  app.use('*', requestContext(deps.logger));
  app.onError(errorHandler(deps.logger, () => deps.metrics.backendErrors.inc({ backend: 'postgres' })));
  app.notFound(notFound);

  registerOpsRoutes(app, deps);

  const auth = authenticate(deps.authenticator, deps.metrics);
  const maxBody = deps.settings.maxBodyBytes;
  const limit = bodyLimit({
    maxSize: maxBody,
    onError: () => {
      throw new ProblemError('payload_too_large', `the request body exceeds ${maxBody} bytes`, { limit: maxBody });
    },
  });
  for (const path of API_PATHS) app.use(path, auth, limit);
  const reader = authenticateReader(deps.authenticator, deps.metrics, deps.usageTokens);
  for (const path of USAGE_PATHS) app.use(path, ...usageCors(deps.settings.corsOrigins), reader);
  const schemas = apiSchemas(deps.policy);
  registerUsageRoutes(app, deps, schemas);
  registerUsageStreamRoute(app, deps);
  registerUsageTokenRoutes(app, deps);
  registerDecisionRoutes(app, deps, schemas);
  registerReservationRoutes(app, deps, schemas);
  registerReleaseRoutes(app, deps, schemas);
  registerAdminRoutes(app, deps, schemas);
  registerAdminUi(app, deps);
  registerBillingWebhookRoute(app, deps);

  // Proxied routes read (and limit) their bodies themselves, streaming when they can.
  for (const route of deps.policy.routes) app.on(route.match.method, route.match.path, auth, proxyRoute(route, deps));
  registerRouteDocs(app.openAPIRegistry, deps.policy.routes);

  app.openAPIRegistry.registerComponent('securitySchemes', 'apiKey', {
    type: 'http',
    scheme: 'bearer',
    description: 'An API key (qg_…), as "Authorization: Bearer <key>" or "x-api-key: <key>"',
  });
  app.openAPIRegistry.registerComponent('securitySchemes', 'usageToken', {
    type: 'http',
    scheme: 'bearer',
    description: "A usage token (qgu_…) from POST /v1/usage-tokens: reads one subject's usage, nothing else",
  });
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: '/openapi.json',
    summary: 'This document (OpenAPI 3.1)',
    responses: { 200: { description: 'The OpenAPI document', content: { 'application/json': { schema: z.object({}).passthrough() } } } },
  });
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: '/docs',
    summary: 'A readable page of every operation',
    responses: { 200: { description: 'HTML', content: { 'text/html': { schema: z.string() } } } },
  });
  app.doc31('/openapi.json', OPENAPI_INFO);
  app.get('/docs', (c) => c.html(docsPage(app.getOpenAPI31Document(OPENAPI_INFO))));
  return app;
}
