import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { pick } from '../api/problem-responses.js';
import { writeAudit } from '../audit/audit-log.js';
import { inTransaction } from '../db/transaction.js';
import { ProblemError } from '../http/problem.js';
import { actorOf, subjectOr404 } from './admin-context.js';
import type { AdminDeps } from './admin-deps.js';
import { adminRoute, json } from './admin-openapi.js';
import type { AdminSchemas } from './admin-schemas.js';
import { isoOrNull } from '../lib/iso-time.js';

const keyInfo = z
  .object({
    id: z.string(),
    prefix: z.string().openapi({ description: 'The first characters of the secret, to recognise it' }),
    name: z.string().nullable(),
    created_at: z.string(),
    last_used_at: z.string().nullable().openapi({ description: "Last authentication, as precise as the gateways' key cache TTL" }),
    revoked_at: z.string().nullable(),
  })
  .openapi('ApiKey');

/** API keys: create (the secret is in this one answer only), list (metadata), revoke (on every gateway at once). */
export function registerKeyRoutes(app: OpenAPIHono, admin: AdminDeps, s: AdminSchemas): void {
  app.openapi(
    createRoute({
      method: 'post',
      path: '/admin/v1/subjects/{id}/keys',
      ...adminRoute,
      summary: 'Create an API key; `key` is the secret, shown this once (only its SHA-256 is stored)',
      request: { params: s.subjectParams, body: { ...json(s.createKey), required: false } },
      responses: { 201: { description: 'Created', ...json(keyInfo.extend({ key: z.string() }).openapi('NewApiKey')) }, ...pick(400, 401, 404) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const { name } = c.req.valid('json') ?? {};
      await subjectOr404(admin, id);
      const key = await inTransaction(admin.pool, async (db) => {
        const created = await admin.keys.create(id, name ?? null, db);
        await writeAudit(db, { ...actorOf(c), action: 'key.created', subjectId: id, details: { key_id: created.id, prefix: created.prefix, name: name ?? null } });
        return created;
      });
      return c.json({ id: key.id, key: key.secret, prefix: key.prefix, name: name ?? null, created_at: new Date().toISOString(), last_used_at: null, revoked_at: null }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/admin/v1/subjects/{id}/keys',
      ...adminRoute,
      summary: "The subject's API keys, newest first (never the secrets)",
      request: { params: s.subjectParams },
      responses: { 200: { description: 'Keys', ...json(z.object({ items: z.array(keyInfo) })) }, ...pick(400, 401, 404) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      await subjectOr404(admin, id);
      const keys = await admin.keys.list(id);
      const items = keys.map((k) => ({
        id: k.id,
        prefix: k.prefix,
        name: k.name,
        created_at: k.createdAt.toISOString(),
        last_used_at: isoOrNull(k.lastUsedAt),
        revoked_at: isoOrNull(k.revokedAt),
      }));
      return c.json({ items }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/admin/v1/subjects/{id}/keys/{keyId}',
      ...adminRoute,
      summary: 'Revoke an API key; every gateway refuses it from the next request',
      request: { params: s.keyParams },
      responses: { 204: { description: 'Revoked' }, ...pick(400, 401, 404) },
    }),
    async (c) => {
      const { id, keyId } = c.req.valid('param');
      const revoked = await inTransaction(admin.pool, async (db) => {
        const done = await admin.keys.revoke(id, keyId, db);
        if (done) await writeAudit(db, { ...actorOf(c), action: 'key.revoked', subjectId: id, details: { key_id: keyId } });
        return done;
      });
      if (!revoked) throw new ProblemError('not_found', `subject "${id}" has no live key "${keyId}"`, { field: 'keyId' });
      await admin.invalidation.publish(id);
      return c.body(null, 204);
    },
  );
}
