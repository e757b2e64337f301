import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { backend } from '../api/backend.js';
import { pick, problemEntry } from '../api/problem-responses.js';
import type { ApiSchemas } from '../api/schemas.js';
import { writeAudit } from '../audit/audit-log.js';
import { inTransaction } from '../db/transaction.js';
import type { GatewayDeps } from '../http/gateway-deps.js';
import { ProblemError } from '../http/problem.js';
import { changeSubject } from '../subjects/plan-change.js';
import { actorOf, notFound, subjectOr404 } from './admin-context.js';
import type { AdminDeps } from './admin-deps.js';
import { adminRoute, json } from './admin-openapi.js';
import type { AdminSchemas } from './admin-schemas.js';
import { decodeCursor, page } from './cursor.js';
import { subjectDetailJson, subjectJson, subjectJsonSchemas } from './subject-view.js';

const ms = (iso: string | null | undefined) => (iso == null ? iso : Date.parse(iso));

/** Subjects: create, list, read (plan, period, usage, grants), change plan, delete. */
export function registerSubjectRoutes(app: OpenAPIHono, deps: GatewayDeps, admin: AdminDeps, s: AdminSchemas, api: ApiSchemas): void {
  const views = subjectJsonSchemas(api);
  const blocked = problemEntry('downgrade_blocked: `blockers` lists each gauge above the new limit and what must go ("delete 2 projects")');
  const changes = { pool: admin.pool, subjects: admin.subjects, engine: deps.engine, invalidation: admin.invalidation };

  app.openapi(
    createRoute({
      method: 'post',
      path: '/admin/v1/subjects',
      ...adminRoute,
      summary: 'Create a subject',
      request: { body: { ...json(s.createSubject), required: true } },
      responses: { 201: { description: 'Created', ...json(views.subject) }, ...pick(400, 401), 409: problemEntry('already_exists: the id is taken (also by a deleted subject)') },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const created = await inTransaction(admin.pool, async (db) => {
        const subject = await admin.subjects.create({ id: body.id, plan: body.plan, anchor: ms(body.anchor) ?? null, overrides: body.overrides }, db);
        if (subject)
          await writeAudit(db, {
            ...actorOf(c),
            action: 'subject.created',
            subjectId: subject.id,
            details: { plan: subject.plan, anchor: body.anchor ?? null, overrides: subject.overrides },
          });
        return subject;
      });
      if (!created) throw new ProblemError('already_exists', `subject "${body.id}" already exists`, { field: 'id' });
      return c.json(subjectJson(created), 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/admin/v1/subjects',
      ...adminRoute,
      summary: 'List subjects by id, optionally of one plan (keyset pagination)',
      request: { query: s.listSubjects },
      responses: { 200: { description: 'A page of subjects', ...json(z.object({ items: z.array(views.subject), next_cursor: z.string().nullable() })) }, ...pick(400, 401) },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const after = decodeCursor(q.cursor, ['text'])?.[0] as string | undefined;
      const rows = await admin.subjects.list({ after, plan: q.plan, limit: q.limit + 1 });
      const { items, next_cursor } = page(rows, q.limit, (r) => [r.id]);
      return c.json({ items: items.map(subjectJson), next_cursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/admin/v1/subjects/{id}',
      ...adminRoute,
      summary: 'A subject: plan, period, usage per metric and grants',
      request: { params: s.subjectParams },
      responses: { 200: { description: 'The subject', ...json(views.detail) }, ...pick(400, 401, 404, 503) },
    }),
    async (c) => {
      const subject = await subjectOr404(admin, c.req.valid('param').id);
      return c.json(await backend(c, deps, () => subjectDetailJson(deps, admin, subject)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/admin/v1/subjects/{id}',
      ...adminRoute,
      summary: "Change plan, anchor or overrides; a downgrade below a gauge's level is refused unless forced",
      request: { params: s.subjectParams, body: { ...json(s.changeSubject), required: true } },
      responses: { 200: { description: 'Changed', ...json(views.subject) }, ...pick(400, 401, 404, 503), 409: blocked },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const body = c.req.valid('json');
      const change = {
        ...(body.plan !== undefined && { plan: body.plan }),
        ...(body.anchor !== undefined && { anchor: ms(body.anchor)! }),
        ...(body.overrides !== undefined && { overrides: body.overrides }),
        force: body.force ?? false,
      };
      const result = await backend(c, deps, () => changeSubject(changes, id, change, { ...actorOf(c, body.reason), action: 'subject.changed' }));
      if (result.outcome === 'not_found') throw notFound(id);
      if (result.outcome === 'blocked') {
        const what = result.blockers.map((b) => b.message).join(', ');
        throw new ProblemError('downgrade_blocked', `plan "${body.plan ?? result.subject.plan}" allows less than "${id}" has: ${what} first, or send force: true`, {
          blockers: result.blockers,
        });
      }
      return c.json(subjectJson(result.subject), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/admin/v1/subjects/{id}',
      ...adminRoute,
      summary: 'Delete a subject (soft): its keys stop working; its ledger and audit trail stay',
      request: { params: s.subjectParams },
      responses: { 204: { description: 'Deleted' }, ...pick(400, 401, 404) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const deleted = await inTransaction(admin.pool, async (db) => {
        const gone = await admin.subjects.delete(id, db);
        if (gone) await writeAudit(db, { ...actorOf(c), action: 'subject.deleted', subjectId: id, details: {} });
        return gone;
      });
      if (!deleted) throw notFound(id);
      await admin.invalidation.publish(id);
      return c.body(null, 204);
    },
  );
}
