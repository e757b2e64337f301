import { z, type OpenAPIHono } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import { ZodError } from 'zod';
import { problems } from '../api/problem-responses.js';
import { formatIssues } from '../config/errors.js';
import { inTransaction } from '../db/transaction.js';
import type { AdminRouteDeps } from '../admin/admin-deps.js';
import { ProblemError } from '../http/problem.js';
import { verifySignature } from '../lib/hmac-signature.js';
import { applyBillingEvent, type BillingResult } from './apply-billing-event.js';
import { billingEventSchema, HANDLED_TYPES, isHandled } from './billing-event.js';

export const SIGNATURE_HEADER = 'quotagate-signature';
const MAX_BODY_BYTES = 256 * 1024;
const CHALLENGE = { 'www-authenticate': `Signature header="${SIGNATURE_HEADER}"` };

/** The subject is not (yet) known: nothing is recorded, so the provider's retry can succeed later. */
class UnknownSubject extends Error {}

const fieldProblem = (err: ZodError, prefix: string[]) => {
  const first = err.issues[0];
  return new ProblemError('invalid_request', formatIssues(err.issues).join('; '), { field: [...prefix, ...(first?.path ?? []).map(String)].join('.') });
};

/**
 * POST /webhooks/billing: the billing provider's subscription events, HMAC-signed. The
 * signature is checked on the raw body before anything is parsed, so an unsigned request
 * learns nothing. Each event id is recorded in `webhook_events` in the transaction that
 * applies it: a redelivery — even one racing the first, which waits on the row's unique
 * index — finds the id taken and changes nothing.
 */
export function registerBillingWebhookRoute(app: OpenAPIHono, deps: AdminRouteDeps): void {
  const { admin } = deps;
  app.post(
    '/webhooks/billing',
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw new ProblemError('payload_too_large', `webhook bodies are limited to ${MAX_BODY_BYTES} bytes`, { limit: MAX_BODY_BYTES });
      },
    }),
    async (c) => {
      const secret = admin.webhookSecret;
      if (!secret) throw new ProblemError('unauthorized', 'billing webhooks are disabled: set WEBHOOK_SECRET to enable them', {}, CHALLENGE);
      const raw = await c.req.text();
      if (!verifySignature(secret, c.req.header(SIGNATURE_HEADER), raw, deps.clock.now() / 1000)) {
        throw new ProblemError('unauthorized', `the ${SIGNATURE_HEADER} header is missing, wrong or older than 5 minutes`, {}, CHALLENGE);
      }
      let json: unknown;
      try {
        json = JSON.parse(raw);
      } catch {
        throw new ProblemError('invalid_request', 'the body is not valid JSON', { field: 'body' });
      }
      const parsed = billingEventSchema.safeParse(json);
      if (!parsed.success) throw fieldProblem(parsed.error, []);
      const event = parsed.data;

      let outcome: { duplicate: boolean; result: BillingResult; changed: boolean };
      try {
        outcome = await inTransaction(admin.pool, async (db) => {
          const inserted = await db.query(`INSERT INTO webhook_events (id, type, payload) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING RETURNING id`, [
            event.id,
            event.type,
            raw,
          ]);
          if (inserted.rowCount === 0) {
            const first = await db.query<{ result: BillingResult }>('SELECT result FROM webhook_events WHERE id = $1', [event.id]);
            return { duplicate: true, result: first.rows[0]!.result, changed: false };
          }
          const applied = isHandled(event.type)
            ? await applyBillingEvent(db, { engine: deps.engine, subjects: admin.subjects, policy: deps.policy }, event.type, event.data, event.id, deps.clock.now())
            : { result: { status: 'ignored' as const, reason: `quotagate handles ${HANDLED_TYPES.join(', ')}` }, changed: false };
          if (applied.result.status === 'unknown_subject') throw new UnknownSubject(applied.result.subject);
          await db.query('UPDATE webhook_events SET processed_at = now(), result = $2 WHERE id = $1', [event.id, JSON.stringify(applied.result)]);
          return { duplicate: false, ...applied };
        });
      } catch (err) {
        if (err instanceof UnknownSubject) throw new ProblemError('not_found', `no subject "${err.message}"; retry once it exists`, { field: 'data.subject_id' });
        if (err instanceof ZodError) throw fieldProblem(err, ['data']);
        throw err;
      }
      if (outcome.result.status === 'blocked') c.get('log').warn({ event: event.id, result: outcome.result }, 'billing asked for a downgrade the subject is above; not applied');
      if (outcome.changed && outcome.result.status === 'applied') await admin.invalidation.publish(outcome.result.subject);
      return c.json({ received: true, duplicate: outcome.duplicate, result: outcome.result }, 200);
    },
  );

  app.openAPIRegistry.registerPath({
    method: 'post',
    path: '/webhooks/billing',
    tags: ['billing'],
    summary: 'Billing provider events: subscription.renewed, subscription.plan_changed, subscription.canceled',
    description: `Signed with HMAC-SHA256 in the \`${SIGNATURE_HEADER}\` header: \`t=<unix seconds>,v1=<hex>\` over \`"<t>.<raw body>"\`, 5-minute tolerance. Each event id is applied once; a redelivery answers 200 with \`duplicate: true\`.`,
    request: {
      headers: z.object({ [SIGNATURE_HEADER]: z.string() }),
      body: {
        required: true,
        content: {
          'application/json': {
            schema: billingEventSchema,
          },
        },
      },
    },
    responses: {
      200: {
        description: 'Processed (or a duplicate of a processed event); `result.status` is applied, blocked (a downgrade below a gauge, recorded) or ignored',
        content: { 'application/json': { schema: z.object({ received: z.boolean(), duplicate: z.boolean(), result: z.record(z.string(), z.unknown()) }) } },
      },
      400: problems[400],
      401: { ...problems[401], description: 'unauthorized: signature missing, wrong or stale' },
      404: problems[404],
      413: problems[413],
    },
  });
}
