import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { pick } from '../api/problem-responses.js';
import { writeAudit } from '../audit/audit-log.js';
import { ProblemError } from '../http/problem.js';
import { actorOf } from './admin-context.js';
import { onDemandJobOptions } from '../jobs/job-queue.js';
import type { AdminDeps } from './admin-deps.js';
import { adminRoute, json } from './admin-openapi.js';
import type { AdminSchemas } from './admin-schemas.js';
import { decodeCursor, page } from './cursor.js';
import { isoOrNull } from '../lib/iso-time.js';

const run = z
  .object({
    id: z.number().int(),
    started_at: z.string(),
    finished_at: z.string().nullable(),
    status: z.string(),
    trigger: z.string(),
    stats: z.record(z.string(), z.unknown()),
  })
  .openapi('ReconciliationRun');

const drift = z
  .object({
    subject: z.string(),
    metric: z.string(),
    period_start: z.string().nullable().openapi({ description: 'null for gauges' }),
    redis_value: z.number().int().nullable().openapi({ description: 'null: the key was missing in Redis' }),
    ledger_value: z.number().int(),
    action: z.string(),
    at: z.string(),
  })
  .openapi('Drift');

const job = z
  .object({
    job_id: z.string(),
    state: z.string().openapi({ description: 'BullMQ state: waiting, active, completed, failed, …' }),
    run_id: z.number().int().nullable(),
    error: z.string().nullable(),
  })
  .openapi('ReconciliationJob');

const runJson = (r: { id: string; started_at: Date; finished_at: Date | null; status: string; trigger: string; stats: Record<string, unknown> }) => ({
  id: Number(r.id),
  started_at: r.started_at.toISOString(),
  finished_at: isoOrNull(r.finished_at),
  status: r.status,
  trigger: r.trigger,
  stats: r.stats,
});

/** Reconciliation on demand (a worker job) and its reports. */
export function registerReconciliationRoutes(app: OpenAPIHono, admin: AdminDeps, s: AdminSchemas): void {
  app.openapi(
    createRoute({
      method: 'post',
      path: '/admin/v1/reconciliations',
      ...adminRoute,
      summary: 'Start a reconciliation run now (a worker job); follow it at /admin/v1/reconciliations/jobs/{job_id}. Audited (reconciliation.requested)',
      responses: { 202: { description: 'Queued', ...json(job) }, ...pick(401, 503) },
    }),
    async (c) => {
      let added;
      try {
        added = await admin.jobs.add('reconcile', { trigger: 'manual', actor: c.get('actor') }, onDemandJobOptions);
      } catch (err) {
        c.get('log').warn({ err }, 'could not queue a reconciliation');
        throw new ProblemError('backend_unavailable', 'the job queue (Redis) is unavailable; retry shortly', {}, { 'retry-after': '1' });
      }
      // Audited like every admin action, though it moves no counter itself (what it repairs is audited by the run).
      await writeAudit(admin.pool, { ...actorOf(c), action: 'reconciliation.requested', subjectId: null, details: { job_id: added.id! } });
      return c.json({ job_id: added.id!, state: 'waiting', run_id: null, error: null }, 202);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/admin/v1/reconciliations/jobs/{jobId}',
      ...adminRoute,
      summary: 'The state of a queued reconciliation and, once done, its run id',
      request: { params: s.jobParams },
      responses: { 200: { description: 'The job', ...json(job) }, ...pick(400, 401, 404) },
    }),
    async (c) => {
      const { jobId } = c.req.valid('param');
      const found = await admin.jobs.getJob(jobId);
      if (!found || found.name !== 'reconcile')
        throw new ProblemError('not_found', `no reconciliation job "${jobId}" (finished jobs are kept for the last 1,000)`, { field: 'jobId' });
      const result = found.returnvalue as { runId?: string | number } | null;
      return c.json({ job_id: jobId, state: await found.getState(), run_id: result?.runId == null ? null : Number(result.runId), error: found.failedReason ?? null }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/admin/v1/reconciliations',
      ...adminRoute,
      summary: 'Reconciliation runs, newest first',
      request: { query: s.pageQuery },
      responses: { 200: { description: 'A page of runs', ...json(z.object({ items: z.array(run), next_cursor: z.string().nullable() })) }, ...pick(400, 401) },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const before = decodeCursor(q.cursor, ['id'])?.[0] ?? null;
      const { rows } = await admin.pool.query(
        `SELECT id, started_at, finished_at, status, trigger, stats FROM reconciliation_runs
          WHERE ($1::bigint IS NULL OR id < $1) ORDER BY id DESC LIMIT $2`,
        [before, q.limit + 1],
      );
      const { items, next_cursor } = page(rows, q.limit, (r) => [Number(r.id)]);
      return c.json({ items: items.map(runJson), next_cursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/admin/v1/reconciliations/{id}',
      ...adminRoute,
      summary: 'A reconciliation run and every drift it found',
      request: { params: s.runParams },
      responses: { 200: { description: 'The report', ...json(run.extend({ drifts: z.array(drift) }).openapi('ReconciliationReport')) }, ...pick(400, 401, 404) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const { rows } = await admin.pool.query('SELECT id, started_at, finished_at, status, trigger, stats FROM reconciliation_runs WHERE id = $1', [id]);
      if (!rows[0]) throw new ProblemError('not_found', `no reconciliation run ${id}`, { field: 'id' });
      const drifts = await admin.pool.query(
        `SELECT subject_id, metric, period_start, redis_value, ledger_value, action, at FROM reconciliation_drifts WHERE run_id = $1 ORDER BY id`,
        [id],
      );
      return c.json(
        {
          ...runJson(rows[0]),
          drifts: drifts.rows.map((d) => ({
            subject: d.subject_id,
            metric: d.metric,
            // '-infinity' (gauges) comes back from pg as a non-finite date.
            period_start: Number.isFinite(d.period_start?.getTime?.()) ? d.period_start.toISOString() : null,
            redis_value: d.redis_value === null ? null : Number(d.redis_value),
            ledger_value: Number(d.ledger_value),
            action: d.action,
            at: d.at.toISOString(),
          })),
        },
        200,
      );
    },
  );
}
