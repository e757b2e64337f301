import type { OpenAPIHono } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import type { ApiSchemas } from '../api/schemas.js';
import { registerBillingAdminRoutes } from './billing-routes.js';
import type { AdminRouteDeps } from './admin-deps.js';
import { ProblemError } from '../http/problem.js';
import { adminAuth } from './admin-auth.js';
import { adminSchemas } from './admin-schemas.js';
import { registerDeadLetterRoutes } from './dead-letter-routes.js';
import { registerHistoryRoutes } from './history-routes.js';
import { registerKeyRoutes } from './key-routes.js';
import { registerOverviewRoutes } from './overview-routes.js';
import { registerReconciliationRoutes } from './reconciliation-routes.js';
import { registerSubjectRoutes } from './subject-routes.js';
import { registerUsageChangeRoutes } from './usage-change-routes.js';
import { registerUsageHistoryRoutes } from './usage-history-routes.js';

/** Admin requests are small JSON documents. */
const MAX_ADMIN_BODY_BYTES = 64 * 1024;

/** The admin API under /admin/v1, behind the admin token. */
export function registerAdminRoutes(app: OpenAPIHono, deps: AdminRouteDeps, api: ApiSchemas): void {
  const { admin } = deps;
  app.use(
    '/admin/v1/*',
    adminAuth(admin.adminTokenHash),
    bodyLimit({
      maxSize: MAX_ADMIN_BODY_BYTES,
      onError: () => {
        throw new ProblemError('payload_too_large', `admin request bodies are limited to ${MAX_ADMIN_BODY_BYTES} bytes`, { limit: MAX_ADMIN_BODY_BYTES });
      },
    }),
  );
  const schemas = adminSchemas(deps.policy);
  registerSubjectRoutes(app, deps, admin, schemas, api);
  registerKeyRoutes(app, admin, schemas);
  registerUsageChangeRoutes(app, deps, admin, schemas, api);
  registerHistoryRoutes(app, admin, schemas);
  registerUsageHistoryRoutes(app, deps, admin, schemas, api);
  registerOverviewRoutes(app, deps, admin, api);
  registerReconciliationRoutes(app, admin, schemas);
  registerDeadLetterRoutes(app, admin, schemas);
  registerBillingAdminRoutes(app, admin);
  app.openAPIRegistry.registerComponent('securitySchemes', 'adminToken', {
    type: 'http',
    scheme: 'bearer',
    description: 'ADMIN_TOKEN, as "Authorization: Bearer <token>"; an optional x-quotagate-actor header names who acts, for the audit log',
  });
}
