import type { z } from '@hono/zod-openapi';
import { ZodError } from 'zod';
import { formatIssues } from '../config/errors.js';
import type { Policy } from '../config/policy.js';
import { ProblemError } from '../http/problem.js';
import { PADDLE_SCHEME, QUOTAGATE_SCHEME, STRIPE_SCHEME, type SignatureScheme } from '../lib/hmac-signature.js';
import type { Provider, Translation } from './billing-change.js';
import { paddleEventSchema, PADDLE_TYPES, translatePaddleEvent } from './paddle-event.js';
import { billingEventSchema, HANDLED_TYPES, translateQuotagateEvent } from './quotagate-format.js';
import { stripeEventSchema, STRIPE_TYPES, translateStripeEvent } from './stripe-event.js';

/** A signed event, read: its id (applied once per provider), type, and what it asks of a subscription. */
export interface ReadEvent {
  id: string;
  type: string;
  /** When the provider says it happened (ms), as recorded with it. */
  occurredAt: number | null;
  translation: Translation;
}

/**
 * One billing webhook endpoint: where it is, how its provider signs, and how its events
 * are read. The route (billing-webhook-route.ts) is the same for all of them.
 */
export interface WebhookSource {
  provider: Provider;
  path: string;
  /** Lower-case header name. */
  signatureHeader: string;
  scheme: SignatureScheme;
  /** The environment variable holding its secret(s), for the answer when it is unset. */
  secretEnv: string;
  /** The event envelope, for the OpenAPI document. */
  schema: z.ZodType;
  summary: string;
  description: string;
  /** Throws a 400 ProblemError naming the field of anything it cannot read. */
  read(json: unknown, policy: Policy, receivedAt: number): ReadEvent;
}

/** `schema.parse(value)`, with a failure as a 400 naming the field under `prefix`. */
function parsed<T extends z.ZodType>(schema: T, value: unknown, prefix: string[] = []): z.output<T> {
  const result = schema.safeParse(value);
  if (!result.success) throw fieldProblem(result.error, prefix);
  return result.data;
}

/** A translator's ZodError (paths inside the event's entity) as a 400 naming the field. */
function translated(translate: () => Translation, prefix: string[]): Translation {
  try {
    return translate();
  } catch (err) {
    if (err instanceof ZodError) throw fieldProblem(err, prefix);
    throw err;
  }
}

function fieldProblem(err: ZodError, prefix: string[]): ProblemError {
  const first = err.issues[0];
  return new ProblemError('invalid_request', formatIssues(err.issues).join('; '), { field: [...prefix, ...(first?.path ?? []).map(String)].join('.') || 'body' });
}

export const quotagateSource: WebhookSource = {
  provider: 'quotagate',
  path: '/webhooks/billing',
  signatureHeader: 'quotagate-signature',
  scheme: QUOTAGATE_SCHEME,
  secretEnv: 'WEBHOOK_SECRET',
  schema: billingEventSchema,
  summary: `quotagate's own billing events: ${HANDLED_TYPES.join(', ')}`,
  description: 'Signed with HMAC-SHA256 in the `quotagate-signature` header: `t=<unix seconds>,v1=<hex>` over `"<t>.<raw body>"`, 5-minute tolerance.',
  read(json, policy, receivedAt) {
    const event = parsed(billingEventSchema, json);
    return {
      id: event.id,
      type: event.type,
      occurredAt: event.occurred_at === undefined ? null : Date.parse(event.occurred_at),
      translation: translated(() => translateQuotagateEvent(event, policy, receivedAt), ['data']),
    };
  },
};

export const stripeSource: WebhookSource = {
  provider: 'stripe',
  path: '/webhooks/stripe',
  signatureHeader: 'stripe-signature',
  scheme: STRIPE_SCHEME,
  secretEnv: 'STRIPE_WEBHOOK_SECRET',
  schema: stripeEventSchema,
  summary: `Stripe events: ${STRIPE_TYPES.join(', ')}; other types are recorded and answered 200`,
  description:
    'Verified as Stripe signs: `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…]` over `"<t>.<raw body>"` with any of `STRIPE_WEBHOOK_SECRET`, 5-minute tolerance.',
  read(json, policy) {
    const event = parsed(stripeEventSchema, json);
    return { id: event.id, type: event.type, occurredAt: event.created * 1000, translation: translated(() => translateStripeEvent(event, policy), ['data', 'object']) };
  },
};

export const paddleSource: WebhookSource = {
  provider: 'paddle',
  path: '/webhooks/paddle',
  signatureHeader: 'paddle-signature',
  scheme: PADDLE_SCHEME,
  secretEnv: 'PADDLE_WEBHOOK_SECRET',
  schema: paddleEventSchema,
  summary: `Paddle Billing notifications: ${PADDLE_TYPES.join(', ')}; other types are recorded and answered 200`,
  description:
    'Verified as Paddle signs: `Paddle-Signature: ts=<unix seconds>;h1=<hex>[;h1=<hex>…]` over `"<ts>:<raw body>"` with any of `PADDLE_WEBHOOK_SECRET`, 5-minute tolerance.',
  read(json, policy) {
    const event = parsed(paddleEventSchema, json);
    return { id: event.event_id, type: event.event_type, occurredAt: Date.parse(event.occurred_at), translation: translated(() => translatePaddleEvent(event, policy), ['data']) };
  },
};

export const WEBHOOK_SOURCES: readonly WebhookSource[] = [quotagateSource, stripeSource, paddleSource];
