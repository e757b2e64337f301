import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { pick } from '../api/problem-responses.js';
import { writeAudit } from '../audit/audit-log.js';
import { actorOf, subjectOr404 } from './admin-context.js';
import type { AdminDeps } from './admin-deps.js';
import { adminRoute, json } from './admin-openapi.js';
import { decodeCursor, page } from './cursor.js';
import { inTransaction } from '../db/transaction.js';
import { ProblemError } from '../http/problem.js';
import { subjectIdSchema } from '../subjects/subject.js';
import { customerLinks, type CustomerLink } from '../billing/customer-links.js';
import { unmatchedEvents, type UnmatchedEvent } from '../billing/unmatched-events.js';

/** Providers whose customers can be linked: quotagate's own format names its subject itself. */
const LINKED_PROVIDERS = ['stripe', 'paddle'] as const;
const provider = z.enum(LINKED_PROVIDERS, { error: `must be one of: ${LINKED_PROVIDERS.join(', ')}` });
const customerId = z.string().regex(/^[A-Za-z0-9_.:-]{1,255}$/, 'must be a customer id (1–255 of A–Z, a–z, 0–9, _ . : -)');
const limit = z.coerce.number().int('must be a whole number').min(1, 'must be at least 1').max(500, 'must be at most 500').default(50);
const cursor = z.string().max(512).optional().openapi({ description: 'next_cursor of the previous page' });

const linkParams = z.object({
  provider: provider.openapi({ param: { name: 'provider', in: 'path' } }),
  customer: customerId.openapi({ param: { name: 'customer', in: 'path' }, example: 'cus_NeZwdNtLEOXuvB' }),
});
const linkBody = z.strictObject({ subject: subjectIdSchema.openapi({ example: 'org_42' }) }).openapi('CustomerLinkBody');
const linkView = z.object({ provider: z.string(), customer: z.string(), subject: z.string(), created_at: z.string(), updated_at: z.string() }).openapi('CustomerLink');
const unmatchedView = z
  .object({
    provider: z.string(),
    event_id: z.string(),
    event_type: z.string(),
    reason: z.enum(['unknown_customer', 'unknown_subject']),
    customer: z.string().nullable(),
    subscription: z.string().nullable(),
    subject: z.string().nullable(),
    attempts: z.number().int(),
    first_seen_at: z.string(),
    last_seen_at: z.string(),
  })
  .openapi('UnmatchedBillingEvent');

const eventView = z
  .object({
    provider: z.string(),
    id: z.string(),
    type: z.string(),
    subject: z.string().nullable(),
    occurred_at: z.string().nullable().openapi({ description: 'When the provider says it happened' }),
    received_at: z.string(),
    processed_at: z.string().nullable(),
    result: z.record(z.string(), z.unknown()).nullable().openapi({ description: 'What it did, as answered: status applied, unchanged, stale, blocked or ignored, with notes' }),
  })
  .openapi('BillingEventRecord');

const linkJson = (l: CustomerLink) => ({
  provider: l.provider,
  customer: l.customer,
  subject: l.subject,
  created_at: l.createdAt.toISOString(),
  updated_at: l.updatedAt.toISOString(),
});
interface EventRow {
  provider: string;
  id: string;
  type: string;
  subject_id: string | null;
  occurred_at: Date | null;
  received_at: Date;
  received_us: string;
  processed_at: Date | null;
  result: Record<string, unknown> | null;
}

const unmatchedJson = (e: UnmatchedEvent) => ({
  provider: e.provider,
  event_id: e.eventId,
  event_type: e.eventType,
  reason: e.reason,
  customer: e.customer,
  subscription: e.subscription,
  subject: e.subject,
  attempts: e.attempts,
  first_seen_at: e.firstSeenAt.toISOString(),
  last_seen_at: e.lastSeenAt.toISOString(),
});

/**
 * /admin/v1/billing: which subject a Stripe or Paddle customer's events are for (when the
 * events name none themselves), the events received and what each did, and the events no
 * subject was found for yet.
 */
export function registerBillingAdminRoutes(app: OpenAPIHono, admin: AdminDeps): void {
  app.openapi(
    createRoute({
      method: 'put',
      path: '/admin/v1/billing/customers/{provider}/{customer}',
      ...adminRoute,
      summary: "Link a provider's customer to a subject: its events without a subject of their own are for it (audited)",
      request: { params: linkParams, body: { ...json(linkBody), required: true } },
      responses: { 200: { description: 'Linked', ...json(linkView) }, ...pick(400, 401, 404) },
    }),
    async (c) => {
      const { provider: p, customer } = c.req.valid('param');
      const { subject } = c.req.valid('json');
      await subjectOr404(admin, subject);
      const link = await inTransaction(admin.pool, async (db) => {
        const { link: linked, previous } = await customerLinks.link(db, p, customer, subject);
        await writeAudit(db, { ...actorOf(c), action: 'billing.customer_linked', subjectId: subject, details: { provider: p, customer, previous_subject: previous } });
        return linked;
      });
      return c.json(linkJson(link), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/admin/v1/billing/customers/{provider}/{customer}',
      ...adminRoute,
      summary: 'Unlink a customer (audited); its later events need a subject of their own',
      request: { params: linkParams },
      responses: { 204: { description: 'Unlinked' }, ...pick(400, 401, 404) },
    }),
    async (c) => {
      const { provider: p, customer } = c.req.valid('param');
      const unlinked = await inTransaction(admin.pool, async (db) => {
        const subject = await customerLinks.unlink(db, p, customer);
        if (subject !== null) await writeAudit(db, { ...actorOf(c), action: 'billing.customer_unlinked', subjectId: subject, details: { provider: p, customer } });
        return subject !== null;
      });
      if (!unlinked) throw new ProblemError('not_found', `no ${p} customer "${customer}" is linked`, { field: 'customer' });
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/admin/v1/billing/customers',
      ...adminRoute,
      summary: 'Linked customers, by provider and customer id; filter by provider or subject',
      request: { query: z.object({ provider: provider.optional(), subject: subjectIdSchema.optional(), limit, cursor }) },
      responses: { 200: { description: 'A page of links', ...json(z.object({ items: z.array(linkView), next_cursor: z.string().nullable() })) }, ...pick(400, 401) },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const after = decodeCursor(q.cursor, ['text', 'text']) as [string, string] | undefined;
      const rows = await customerLinks.list(admin.pool, { provider: q.provider, subject: q.subject, after, limit: q.limit + 1 });
      const { items, next_cursor } = page(rows, q.limit, (l) => [l.provider, l.customer]);
      return c.json({ items: items.map(linkJson), next_cursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/admin/v1/billing/events',
      ...adminRoute,
      summary: 'Billing events received (every provider), newest first, with what each did; filter by provider, subject and result status',
      request: {
        query: z.object({
          provider: z.enum(['quotagate', ...LINKED_PROVIDERS]).optional(),
          subject: subjectIdSchema.optional(),
          status: z.enum(['applied', 'unchanged', 'stale', 'blocked', 'ignored']).optional(),
          limit,
          cursor,
        }),
      },
      responses: { 200: { description: 'A page of billing events', ...json(z.object({ items: z.array(eventView), next_cursor: z.string().nullable() })) }, ...pick(400, 401) },
    }),
    async (c) => {
      const q = c.req.valid('query');
      // Microseconds since the epoch: received_at is stored with them, and the cursor must not lose them.
      const [us, p, id] = decodeCursor(q.cursor, ['id', 'text', 'text']) ?? [null, null, null];
      const { rows } = await admin.pool.query<EventRow>(
        `SELECT provider, id, type, subject_id, occurred_at, received_at, (extract(epoch FROM received_at) * 1000000)::bigint::text AS received_us, processed_at, result
           FROM webhook_events
          WHERE ($1::text IS NULL OR provider = $1) AND ($2::text IS NULL OR subject_id = $2) AND ($3::text IS NULL OR result->>'status' = $3)
            AND ($4::bigint IS NULL OR ((extract(epoch FROM received_at) * 1000000)::bigint, provider, id) < ($4, $5, $6))
          ORDER BY received_at DESC, provider DESC, id DESC LIMIT $7`,
        [q.provider ?? null, q.subject ?? null, q.status ?? null, us, p, id, q.limit + 1],
      );
      const { items, next_cursor } = page(rows, q.limit, (r) => [Number(r.received_us), r.provider, r.id]);
      return c.json(
        {
          items: items.map((r) => ({
            provider: r.provider,
            id: r.id,
            type: r.type,
            subject: r.subject_id,
            occurred_at: r.occurred_at?.toISOString() ?? null,
            received_at: r.received_at.toISOString(),
            processed_at: r.processed_at?.toISOString() ?? null,
            result: r.result,
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
      path: '/admin/v1/billing/unmatched',
      ...adminRoute,
      summary: 'Billing events answered 404 because no subject was found (the provider keeps retrying them), most recently seen first',
      request: { query: z.object({ provider: provider.optional(), limit, cursor }) },
      responses: {
        200: { description: 'A page of unmatched events', ...json(z.object({ items: z.array(unmatchedView), next_cursor: z.string().nullable() })) },
        ...pick(400, 401),
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const before = decodeCursor(q.cursor, ['text', 'text', 'text']) as [string, string, string] | undefined;
      const rows = await unmatchedEvents.list(admin.pool, { provider: q.provider, before, limit: q.limit + 1 });
      const { items, next_cursor } = page(rows, q.limit, (e) => [e.lastSeenAt.toISOString(), e.provider, e.eventId]);
      return c.json({ items: items.map(unmatchedJson), next_cursor }, 200);
    },
  );
}
