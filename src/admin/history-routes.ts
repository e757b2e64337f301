import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { pick } from '../api/problem-responses.js';
import type { AdminDeps } from './admin-deps.js';
import { adminRoute, json } from './admin-openapi.js';
import type { AdminSchemas } from './admin-schemas.js';
import { decodeCursor, page } from './cursor.js';
import { isoOrNull } from '../lib/iso-time.js';

const auditEntry = z
  .object({
    id: z.number().int(),
    at: z.string(),
    actor: z.string(),
    action: z.string(),
    subject: z.string().nullable(),
    reason: z.string().nullable(),
    details: z.record(z.string(), z.unknown()),
    event_id: z.string().nullable().openapi({ description: 'The ledger event of a change made in Redis (reset, grant, adjust)' }),
  })
  .openapi('AuditEntry');

const ledgerEvent = z
  .object({
    event_id: z.string(),
    occurred_at: z.string(),
    subject: z.string(),
    metric: z.string(),
    kind: z.string(),
    period_start: z.string().nullable(),
    delta: z.number().int(),
    value_after: z.number().int().nullable(),
    extra: z.record(z.string(), z.unknown()),
    context: z.record(z.string(), z.unknown()),
  })
  .openapi('LedgerEvent');

const pageOf = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item), next_cursor: z.string().nullable() });

/** The audit log and the ledger, newest first, filtered, in keyset pages. */
export function registerHistoryRoutes(app: OpenAPIHono, admin: AdminDeps, s: AdminSchemas): void {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/admin/v1/audit',
      ...adminRoute,
      summary: 'The audit log, newest first; `action` matches an action or its family ("grant" matches "grant.created")',
      request: { query: s.auditQuery },
      responses: { 200: { description: 'A page of audit entries', ...json(pageOf(auditEntry)) }, ...pick(400, 401) },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const before = decodeCursor(q.cursor, ['id'])?.[0] ?? null;
      const { rows } = await admin.pool.query(
        `SELECT id, at, actor, action, subject_id, reason, details, event_id FROM audit_log
          WHERE ($1::text IS NULL OR subject_id = $1)
            AND ($2::text IS NULL OR action = $2 OR action LIKE $2 || '.%')
            AND ($3::timestamptz IS NULL OR at >= $3) AND ($4::timestamptz IS NULL OR at < $4)
            AND ($5::bigint IS NULL OR id < $5)
          ORDER BY id DESC LIMIT $6`,
        [q.subject ?? null, q.action ?? null, q.from ?? null, q.to ?? null, before, q.limit + 1],
      );
      const { items, next_cursor } = page(rows, q.limit, (r) => [Number(r.id)]);
      return c.json(
        {
          items: items.map((r) => ({
            id: Number(r.id),
            at: isoOrNull(r.at)!,
            actor: r.actor,
            action: r.action,
            subject: r.subject_id,
            reason: r.reason,
            details: r.details,
            event_id: r.event_id,
          })),
          next_cursor,
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/admin/v1/ledger',
      ...adminRoute,
      summary: 'Ledger events (as flushed to Postgres), newest first; filter by subject, metric, kind, period and time',
      request: { query: s.ledgerQuery },
      responses: { 200: { description: 'A page of ledger events', ...json(pageOf(ledgerEvent)) }, ...pick(400, 401) },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const [beforeAt, beforeId] = decodeCursor(q.cursor, ['timestamp', 'text']) ?? [null, null];
      const { rows } = await admin.pool.query(
        `SELECT event_id, occurred_at, subject_id, metric, kind, period_start, delta, value_after, extra, context FROM usage_events
          WHERE ($1::text IS NULL OR subject_id = $1) AND ($2::text IS NULL OR metric = $2) AND ($3::text IS NULL OR kind = $3)
            AND ($4::timestamptz IS NULL OR period_start = $4)
            AND ($5::timestamptz IS NULL OR occurred_at >= $5) AND ($6::timestamptz IS NULL OR occurred_at < $6)
            AND ($7::timestamptz IS NULL OR (occurred_at, event_id) < ($7, $8::text))
          ORDER BY occurred_at DESC, event_id DESC LIMIT $9`,
        [q.subject ?? null, q.metric ?? null, q.kind ?? null, q.period ?? null, q.from ?? null, q.to ?? null, beforeAt, beforeId, q.limit + 1],
      );
      const { items, next_cursor } = page(rows, q.limit, (r) => [r.occurred_at.toISOString(), r.event_id]);
      return c.json(
        {
          items: items.map((r) => ({
            event_id: r.event_id,
            occurred_at: r.occurred_at.toISOString(),
            subject: r.subject_id,
            metric: r.metric,
            kind: r.kind,
            period_start: isoOrNull(r.period_start),
            delta: Number(r.delta),
            value_after: r.value_after === null ? null : Number(r.value_after),
            extra: r.extra,
            context: r.context,
          })),
          next_cursor,
        },
        200,
      );
    },
  );
}
