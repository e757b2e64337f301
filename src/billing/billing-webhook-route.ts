import { z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { problemEntry, problems } from '../api/problem-responses.js';
import { isPostgresOutage } from '../db/connection-error.js';
import { inTransaction } from '../db/transaction.js';
import type { Pool } from 'pg';
import type { AuthInvalidation } from '../auth/auth-invalidation.js';
import type { GatewayDeps } from '../http/gateway-deps.js';
import type { SubjectStore } from '../subjects/subject-store.js';
import type { Provider } from './billing-change.js';
import { ProblemError } from '../http/problem.js';
import { verifySignature } from '../lib/hmac-signature.js';
import { Semaphore } from '../lib/semaphore.js';
import { UNSTORABLE_TEXT_MESSAGE, unstorableTextPath } from '../lib/storable-text.js';
import { applyBillingChange, type BillingResult, type Unmatched } from './apply-billing-change.js';
import { unmatchedEvents } from './unmatched-events.js';
import { WEBHOOK_SOURCES, type ReadEvent, type WebhookSource } from './webhook-sources.js';

/** What the billing webhooks use beside the gateway's own dependencies (the admin side provides it). */
export interface BillingWebhookDeps extends GatewayDeps {
  admin: {
    pool: Pool;
    subjects: SubjectStore;
    invalidation: AuthInvalidation;
    /** Each webhook's signing secrets; null = that webhook is off. */
    webhookSecrets: Record<Provider, readonly string[] | null>;
  };
}

const MAX_BODY_BYTES = 256 * 1024;
/**
 * Webhook transactions one gateway runs at once. A transaction holds a connection of the
 * pool (10) and may need a second one while it does (the engine rebuilding gauge levels from
 * the ledger for the downgrade check); a burst of deliveries — providers retry in bursts —
 * must never take every connection and leave none for that. The rest wait here, holding none.
 */
const CONCURRENT_TRANSACTIONS = 3;

/** No subject for the event: the transaction rolls back (the event id stays free for the provider's retry). */
class NoSubject extends Error {
  constructor(readonly unmatched: Unmatched) {
    super(unmatched.reason);
  }
}

interface Outcome {
  duplicate: boolean;
  result: BillingResult;
  changed: boolean;
}

const findRecorded = async (deps: BillingWebhookDeps, source: WebhookSource, id: string) =>
  (await deps.admin.pool.query<{ result: BillingResult }>('SELECT result FROM webhook_events WHERE provider = $1 AND id = $2 AND processed_at IS NOT NULL', [source.provider, id]))
    .rows[0];

/**
 * Records the event id and applies the event in one transaction: a redelivery — even one
 * racing the first, which waits on the id's unique index — finds the id taken and changes
 * nothing. Redeliveries of an event already processed are answered without a transaction.
 */
async function applyOnce(deps: BillingWebhookDeps, turns: Semaphore, source: WebhookSource, raw: string, event: ReadEvent): Promise<Outcome> {
  const recorded = await findRecorded(deps, source, event.id);
  if (recorded) return { duplicate: true, result: recorded.result, changed: false };
  const { admin } = deps;
  return turns.run(() =>
    inTransaction(admin.pool, async (db) => {
      const inserted = await db.query(
        `INSERT INTO webhook_events (provider, id, type, payload, occurred_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (provider, id) DO NOTHING RETURNING id`,
        [source.provider, event.id, event.type, raw, event.occurredAt === null ? null : new Date(event.occurredAt)],
      );
      if (inserted.rowCount === 0) {
        const first = await db.query<{ result: BillingResult }>('SELECT result FROM webhook_events WHERE provider = $1 AND id = $2', [source.provider, event.id]);
        return { duplicate: true, result: first.rows[0]!.result, changed: false };
      }
      let applied: { result: BillingResult; changed: boolean };
      if ('ignored' in event.translation) applied = { result: { status: 'ignored', reason: event.translation.ignored }, changed: false };
      else {
        const outcome = await applyBillingChange(
          db,
          { engine: deps.engine, subjects: admin.subjects, policy: deps.policy },
          source.provider,
          event.id,
          event.translation.change,
          deps.clock.now(),
        );
        if ('unmatched' in outcome) throw new NoSubject(outcome.unmatched);
        applied = outcome;
        await unmatchedEvents.resolve(db, source.provider, event.id);
      }
      const subject = applied.result.status === 'ignored' ? null : applied.result.subject;
      await db.query('UPDATE webhook_events SET processed_at = now(), result = $3, subject_id = $4 WHERE provider = $1 AND id = $2', [
        source.provider,
        event.id,
        JSON.stringify(applied.result),
        subject,
      ]);
      return { duplicate: false, ...applied };
    }),
  );
}

/** The 404 that makes the provider retry, after recording the event for the operator. */
async function noSubject(deps: BillingWebhookDeps, source: WebhookSource, event: ReadEvent, { unmatched }: NoSubject): Promise<ProblemError> {
  const change = 'change' in event.translation ? event.translation.change : undefined;
  await unmatchedEvents.record(deps.admin.pool, {
    provider: source.provider,
    eventId: event.id,
    eventType: event.type,
    reason: unmatched.reason,
    customer: unmatched.customer,
    subscription: change?.subscription ?? null,
    subject: unmatched.subject,
  });
  const detail =
    unmatched.reason === 'unknown_subject'
      ? `no subject "${unmatched.subject}"; retry once it exists`
      : `no subject for ${source.provider} customer "${unmatched.customer ?? '(none)'}": set ${deps.policy.billing.subject_key} in the subscription's ${source.provider === 'paddle' ? 'custom_data' : 'metadata'} at checkout, or link the customer to a subject (PUT /admin/v1/billing/customers/${source.provider}/{customer}); retry once it is`;
  return new ProblemError('not_found', detail, { field: unmatched.field, reason: unmatched.reason });
}

const failureResult = (err: unknown): string => (err instanceof ProblemError ? err.body.code : isPostgresOutage(err) ? 'backend_unavailable' : 'error');

async function receive(c: Context, deps: BillingWebhookDeps, turns: Semaphore, source: WebhookSource): Promise<Response> {
  const challenge = { 'www-authenticate': `Signature header="${source.signatureHeader}"` };
  const secrets = deps.admin.webhookSecrets[source.provider];
  if (!secrets) throw new ProblemError('unauthorized', `${source.provider} webhooks are disabled: set ${source.secretEnv} to enable them`, {}, challenge);
  const raw = await c.req.text();
  // Checked on the raw body before anything is parsed, so an unsigned request learns nothing.
  if (!verifySignature(secrets, c.req.header(source.signatureHeader), raw, deps.clock.now() / 1000, undefined, source.scheme)) {
    throw new ProblemError('unauthorized', `the ${source.signatureHeader} header is missing, wrong or older than 5 minutes`, {}, challenge);
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new ProblemError('invalid_request', 'the body is not valid JSON', { field: 'body' });
  }
  // Stored whole with its event id: text Postgres refuses is a 400, not a 500 the provider retries for days.
  const unstorable = unstorableTextPath(json);
  if (unstorable !== null) throw new ProblemError('invalid_request', `the event's text ${UNSTORABLE_TEXT_MESSAGE}`, { field: unstorable.join('.') || 'body' });
  const event = source.read(json, deps.policy, deps.clock.now());

  let outcome: Outcome;
  try {
    outcome = await applyOnce(deps, turns, source, raw, event);
  } catch (err) {
    if (err instanceof NoSubject) throw await noSubject(deps, source, event, err);
    throw err;
  }
  const log = c.get('log');
  const { result } = outcome;
  if (result.status === 'blocked') log.warn({ provider: source.provider, event: event.id, result }, 'billing asked for a downgrade the subject is above; not applied');
  else if (result.status === 'stale' && !outcome.duplicate)
    log.info({ provider: source.provider, event: event.id, result }, 'billing event older than what the subscription reflects; nothing changed');
  if (outcome.changed && result.status !== 'ignored') await deps.admin.invalidation.publish(result.subject);
  deps.metrics.billingWebhooks.inc({ provider: source.provider, result: outcome.duplicate ? 'duplicate' : result.status });
  return c.json({ received: true, duplicate: outcome.duplicate, result }, 200);
}

const answer = z
  .object({
    received: z.boolean(),
    duplicate: z.boolean().openapi({ description: 'A redelivery of an event already processed: `result` is the first one' }),
    result: z
      .object({
        status: z.enum(['applied', 'unchanged', 'stale', 'blocked', 'ignored']),
        subject: z.string().optional(),
        subscription: z.string().optional(),
        plan: z.string().optional(),
        anchor: z.string().nullable().optional(),
        period_start: z.string().optional(),
        requested_plan: z.string().optional(),
        blockers: z.array(z.object({ metric: z.string(), message: z.string() })).optional(),
        forced: z.array(z.object({ metric: z.string(), message: z.string() })).optional(),
        notes: z.array(z.string()).optional().openapi({ description: 'Why parts of the event changed nothing (older state, a period already applied, an unmapped price)' }),
        reason: z.string().optional().openapi({ description: 'Why an event was ignored' }),
      })
      .openapi({
        description:
          'applied, unchanged (already reflected), stale (older than what the subscription reflects: nothing changed), blocked (a downgrade below a gauge, recorded) or ignored',
      }),
  })
  .openapi('BillingWebhookAnswer');

/**
 * POST /webhooks/billing (quotagate's format), /webhooks/stripe and /webhooks/paddle: the
 * same route for each source — its signature checked with its provider's scheme, its event
 * translated, and the change applied once, in order (apply-billing-change.ts).
 */
export function registerBillingWebhookRoute(app: OpenAPIHono, deps: BillingWebhookDeps): void {
  const turns = new Semaphore(CONCURRENT_TRANSACTIONS);
  for (const source of WEBHOOK_SOURCES) {
    app.post(
      source.path,
      bodyLimit({
        maxSize: MAX_BODY_BYTES,
        onError: () => {
          throw new ProblemError('payload_too_large', `webhook bodies are limited to ${MAX_BODY_BYTES} bytes`, { limit: MAX_BODY_BYTES });
        },
      }),
      (c) =>
        receive(c, deps, turns, source).catch((err: unknown) => {
          // Refused deliveries matter most: a wrong secret or an unlinked customer shows here before the provider gives up.
          deps.metrics.billingWebhooks.inc({ provider: source.provider, result: failureResult(err) });
          throw err;
        }),
    );
    app.openAPIRegistry.registerPath({
      method: 'post',
      path: source.path,
      tags: ['billing'],
      summary: source.summary,
      description: `${source.description} Each event id is applied once; a redelivery answers 200 with \`duplicate: true\`. An event no subject can be found for is 404 (the provider retries) and listed at GET /admin/v1/billing/unmatched.`,
      request: {
        headers: z.object({ [source.signatureHeader]: z.string() }),
        body: { required: true, content: { 'application/json': { schema: source.schema } } },
      },
      responses: {
        200: { description: 'Processed, or a redelivery of a processed event', content: { 'application/json': { schema: answer } } },
        400: problems[400],
        401: { ...problems[401], description: 'unauthorized: signature missing, wrong or stale, or the webhook is not configured' },
        404: problemEntry('not_found: no subject for the event (`reason`: unknown_customer or unknown_subject); the provider retries'),
        413: problems[413],
        503: problems[503],
      },
    });
  }
}
