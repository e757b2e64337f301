import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { pick, problemEntry } from '../api/problem-responses.js';
import { ProblemError } from '../http/problem.js';
import { listDeadLetters, replayDeadLetter, type DeadLetterRow, type ReplayOutcome } from '../ledger/dead-letters.js';
import { actorOf } from './admin-context.js';
import type { AdminDeps } from './admin-deps.js';
import { adminRoute, json } from './admin-openapi.js';
import type { AdminSchemas } from './admin-schemas.js';
import { decodeCursor, page } from './cursor.js';

const deadLetter = z
  .object({
    event_id: z.string(),
    subject: z.string(),
    metric: z.string(),
    kind: z.string(),
    state: z.enum(['sanitised', 'parked', 'replayed']).openapi({
      description: 'sanitised: in the ledger with U+FFFD for the text Postgres cannot store; parked: not in the ledger, replay it once mended; replayed: since written by a replay',
    }),
    error: z.string(),
    sqlstate: z.string().nullable(),
    attempts: z.number().int(),
    event: z.record(z.string(), z.unknown()).openapi({ description: 'The event as the flusher decoded it from the outbox' }),
    created_at: z.string(),
    updated_at: z.string(),
    replayed_by: z.string().nullable(),
  })
  .openapi('DeadLetter');

const replayed = z.object({ event_id: z.string(), state: z.literal('replayed') }).openapi('DeadLetterReplayed');

const letterJson = (r: DeadLetterRow) => ({
  event_id: r.event_id,
  subject: r.subject_id,
  metric: r.metric,
  kind: r.kind,
  state: r.state,
  error: r.error,
  sqlstate: r.sqlstate,
  attempts: r.attempts,
  event: JSON.parse(r.event) as Record<string, unknown>,
  created_at: r.created_at.toISOString(),
  updated_at: r.updated_at.toISOString(),
  replayed_by: r.replayed_by,
});

/** The problem a replay that did not happen answers. */
function replayProblem(eventId: string, outcome: Exclude<ReplayOutcome, { outcome: 'replayed' }>): ProblemError {
  switch (outcome.outcome) {
    case 'not_found':
      return new ProblemError('not_found', `no dead letter "${eventId}"`, { field: 'eventId' });
    case 'not_parked':
      return new ProblemError('not_parked', `dead letter "${eventId}" is ${outcome.state}: it is in the ledger already`, { state: outcome.state });
    case 'refused':
      return new ProblemError('ledger_refused', `Postgres refused the event again: ${outcome.error}`, { sqlstate: outcome.sqlstate });
  }
}

/**
 * Events the ledger refused (src/ledger/dead-letters.ts): list them, replay a parked one
 * (or every parked one) once its cause is mended. A replay is audited.
 */
export function registerDeadLetterRoutes(app: OpenAPIHono, admin: AdminDeps, s: AdminSchemas): void {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/admin/v1/dead-letters',
      ...adminRoute,
      summary: 'Ledger events Postgres refused, newest first; filter by state and subject',
      request: { query: s.deadLetterQuery },
      responses: { 200: { description: 'A page of dead letters', ...json(z.object({ items: z.array(deadLetter), next_cursor: z.string().nullable() })) }, ...pick(400, 401) },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const before = decodeCursor(q.cursor, ['timestamp', 'text']) as [string, string] | undefined;
      const rows = await listDeadLetters(admin.pool, { state: q.state, subject: q.subject, before, limit: q.limit + 1 });
      const { items, next_cursor } = page(rows, q.limit, (r) => [r.created_at.toISOString(), r.event_id]);
      return c.json({ items: items.map(letterJson), next_cursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/admin/v1/dead-letters/{eventId}/replay',
      ...adminRoute,
      summary: 'Write a parked event to the ledger (once its cause is mended); audited',
      description: "Through the flusher's own writer: its counters, grants, Idempotency-Key and audit entry are written as they would have been. Once per event id.",
      request: { params: s.deadLetterParams },
      responses: {
        200: { description: 'Replayed', ...json(replayed) },
        ...pick(400, 401, 404),
        409: problemEntry('not_parked: the event is in the ledger already (sanitised, or replayed before)'),
        422: problemEntry('ledger_refused: Postgres refused it again (`sqlstate`); it stays parked'),
      },
    }),
    async (c) => {
      const { eventId } = c.req.valid('param');
      const outcome = await replayDeadLetter(admin.pool, admin.ledger, eventId, actorOf(c));
      if (outcome.outcome !== 'replayed') throw replayProblem(eventId, outcome);
      return c.json({ event_id: eventId, state: 'replayed' as const }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/admin/v1/dead-letters/replay',
      ...adminRoute,
      summary: 'Replay every parked dead letter, oldest first (up to `limit` per call); audited',
      request: { query: s.replayAllQuery },
      responses: {
        200: {
          description: 'What was replayed, what Postgres refused again (those stay parked), and whether parked letters are left',
          ...json(
            z.object({
              replayed: z.array(z.string()),
              refused: z.array(z.object({ event_id: z.string(), error: z.string(), sqlstate: z.string().nullable() })),
              more: z.boolean(),
            }),
          ),
        },
        ...pick(400, 401),
      },
    }),
    async (c) => {
      const { limit } = c.req.valid('query');
      const { rows } = await admin.pool.query<{ event_id: string }>(`SELECT event_id FROM ledger_dead_letters WHERE state = 'parked' ORDER BY created_at, event_id LIMIT $1`, [
        limit + 1,
      ]);
      const replayedIds: string[] = [];
      const refused: { event_id: string; error: string; sqlstate: string | null }[] = [];
      for (const { event_id } of rows.slice(0, limit)) {
        const outcome = await replayDeadLetter(admin.pool, admin.ledger, event_id, actorOf(c));
        if (outcome.outcome === 'replayed') replayedIds.push(event_id);
        else if (outcome.outcome === 'refused') refused.push({ event_id, error: outcome.error, sqlstate: outcome.sqlstate });
      }
      return c.json({ replayed: replayedIds, refused, more: rows.length > limit }, 200);
    },
  );
}
