import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { usageJson } from '../http/decision-answer.js';
import type { GatewayDeps } from '../http/gateway-deps.js';
import { apiIdempotencyKey } from '../http/idempotency-key.js';
import { ProblemError } from '../http/problem.js';
import type { HoldOutcome, HoldRef } from '../quota/types.js';
import { subjectRef } from '../subjects/subject-ref.js';
import { backend, decide } from './backend.js';
import { answerDecision, chargeFingerprint } from './decision-routes.js';
import { pick } from './problem-responses.js';
import type { ApiSchemas } from './schemas.js';

/**
 * Reservations for backends that meet the request themselves: reserve what a job may cost
 * (`POST /v1/reservations`), then settle it to the actual amount or release it. A
 * reservation nobody ends is released by the expiry job after its TTL.
 */
export function registerReservationRoutes(app: OpenAPIHono, deps: GatewayDeps, schemas: ApiSchemas): void {
  const ended = z.object({ id: z.string(), metrics: z.array(schemas.metricUsage) }).openapi('ReservationEnded');
  const params = z.object({ id: schemas.reservationId });

  const reservation = z
    .object({
      id: z.string(),
      expires_at: z.string().nullable().openapi({ description: 'When it is released unless settled; null on a replay (it was settled)' }),
      metrics: z.array(schemas.metricUsage),
      replayed: z.boolean().openapi({ description: 'true: a repeat of a settled reservation with the same idempotency key; nothing was reserved' }),
      response: z.string().nullable().openapi({ description: 'On a replay: the `response` the reservation was settled with' }),
    })
    .openapi('Reservation');
  const create = createRoute({
    method: 'post',
    path: '/v1/reservations',
    summary: 'Reserve units of one or more metrics (all or nothing) until settled, released or expired',
    security: [{ apiKey: [] }],
    request: { body: { content: { 'application/json': { schema: schemas.reservationBody } }, required: true } },
    responses: {
      201: { description: 'Reserved; settle, release or refund it by id', content: { 'application/json': { schema: reservation } } },
      200: {
        description: 'A replay (Idempotent-Replayed: true): the reservation with this idempotency key was settled; nothing is reserved again',
        content: { 'application/json': { schema: reservation } },
      },
      ...pick(400, 401, 402, 409, 422, 429, 503),
    },
  });
  const settle = createRoute({
    method: 'post',
    path: '/v1/reservations/{id}/settle',
    summary: 'Settle a reservation to the amount actually used (above the reservation records overage)',
    security: [{ apiKey: [] }],
    request: { params, body: { content: { 'application/json': { schema: schemas.settleBody } }, required: true } },
    responses: { 200: { description: 'Settled', content: { 'application/json': { schema: ended } } }, ...pick(400, 401, 404, 503) },
  });
  const release = createRoute({
    method: 'delete',
    path: '/v1/reservations/{id}',
    summary: 'Release a reservation: everything reserved is given back (`release` events: the work was called off)',
    security: [{ apiKey: [] }],
    request: { params },
    responses: { 200: { description: 'Released', content: { 'application/json': { schema: ended } } }, ...pick(400, 401, 404, 503) },
  });
  const refund = createRoute({
    method: 'post',
    path: '/v1/reservations/{id}/refund',
    summary: 'Refund a reservation: everything reserved is given back (`refund` events: the work failed); its idempotency key may be used again',
    security: [{ apiKey: [] }],
    request: { params },
    responses: { 200: { description: 'Refunded', content: { 'application/json': { schema: ended } } }, ...pick(400, 401, 404, 503) },
  });

  app.openapi(create, async (c) => {
    const body = c.req.valid('json');
    const key = apiIdempotencyKey(c.req.raw.headers, body.idempotency_key);
    const ttlMs = (body.ttl_seconds ?? deps.settings.holdTtlMs / 1000) * 1000;
    const decision = await decide(c, deps, 'api:reserve', () =>
      deps.engine.consume({
        subject: subjectRef(c.get('owner').subject),
        charges: body.charges.map((ch) => ({ ...ch, held: true })),
        requestId: c.get('requestId'),
        holdTtlMs: ttlMs,
        // Until it is settled, a repeat is 409 (in flight); once settled with a response, a replay;
        // settled without one, or released or refunded, a new reservation, charged.
        idempotency: key ? { key, fingerprint: chargeFingerprint(`reserve\n${ttlMs}`, body.charges) } : undefined,
        chargeUnstoredReplays: true,
        context: { route: 'api:reserve', key: c.get('owner').keyId },
      }),
    );
    const { decision: allowed, headers } = answerDecision(deps, decision);
    const metrics = allowed.metrics.map(usageJson);
    if (decision.outcome === 'replayed') {
      return c.json({ id: allowed.requestId, expires_at: null, metrics, replayed: true, response: decision.response }, 200, headers);
    }
    const expiresAt = new Date(deps.clock.now() + ttlMs).toISOString();
    return c.json({ id: allowed.requestId, expires_at: expiresAt, metrics, replayed: false, response: null }, 201, headers);
  });

  app.openapi(settle, async (c) => {
    const { id } = c.req.valid('param');
    const { actual, response } = c.req.valid('json');
    if (response !== undefined && Buffer.byteLength(response) > deps.settings.idempotencyMaxResponseBytes) {
      throw new ProblemError('invalid_request', `response must be at most ${deps.settings.idempotencyMaxResponseBytes} bytes`, { field: 'response' });
    }
    const subject = subjectRef(c.get('owner').subject);
    const outcome = await endReservation(c, deps, id, (hold) => deps.engine.settle(subject, hold, actual === undefined ? {} : actualsFor(hold, actual), { response }));
    return c.json({ id, metrics: endedMetrics(outcome, id) }, 200);
  });

  for (const [declaration, kind] of [
    [release, 'release'],
    [refund, 'refund'],
  ] as const) {
    app.openapi(declaration, async (c) => {
      const { id } = c.req.valid('param');
      const outcome = await endReservation(c, deps, id, (hold) => deps.engine.returnHold(hold.subjectId, hold, kind));
      return c.json({ id, metrics: endedMetrics(outcome, id) }, 200);
    });
  }
}

const gone = (id: string) => new ProblemError('not_found', `reservation ${id} does not exist or has already ended`, { field: 'id' });

/** Holds are keyed by subject, so one subject can never reach another's reservation. */
async function heldReservation(c: Context, deps: GatewayDeps, id: string): Promise<HoldRef> {
  const hold = await deps.engine.readHold(c.get('owner').subject.id, id);
  if (!hold) throw gone(id);
  return hold;
}

/**
 * Ends a reservation (settle, release, refund) as `end` says. When the ending's reply does
 * not arrive (a timeout, a broken connection), a 503 would say "not ended, retry", and the
 * retry would find it gone (404) had it applied. Redis runs one connection's commands in
 * order, so the hold read after the failed call tells: still there, nothing was applied (503);
 * gone, it has ended, and the answer is the usage now.
 */
async function endReservation(c: Context, deps: GatewayDeps, id: string, end: (hold: HoldRef) => Promise<HoldOutcome>): Promise<HoldOutcome> {
  const hold = await backend(c, deps, () => heldReservation(c, deps, id));
  try {
    return await backend(c, deps, () => end(hold));
  } catch (err) {
    if (!(err instanceof ProblemError) || err.body.code !== 'backend_unavailable') throw err;
    if (await backend(c, deps, () => deps.engine.readHold(hold.subjectId, id))) throw err;
    const subject = subjectRef(c.get('owner').subject);
    return {
      outcome: 'ended',
      metrics: await backend(c, deps, () =>
        deps.engine.usage(
          subject,
          hold.lines.map((l) => l.metric),
        ),
      ),
    };
  }
}

/** `actual` is a number for a one-metric reservation, else metric → amount (unnamed lines keep their reservation). */
function actualsFor(hold: HoldRef, actual: number | Record<string, number>): Record<string, number> {
  if (typeof actual === 'number') {
    if (hold.lines.length !== 1) {
      throw new ProblemError('invalid_request', `this reservation has ${hold.lines.length} metrics: give actual as {metric: amount}`, { field: 'actual' });
    }
    return { [hold.lines[0]!.metric]: actual };
  }
  for (const metric of Object.keys(actual)) {
    if (!hold.lines.some((l) => l.metric === metric)) {
      throw new ProblemError('invalid_request', `this reservation has no "${metric}"`, { field: `actual.${metric}` });
    }
  }
  return actual;
}

function endedMetrics(outcome: HoldOutcome, id: string) {
  if (outcome.outcome !== 'ended') throw gone(id);
  return outcome.metrics.map(usageJson);
}
