import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { backend } from '../api/backend.js';
import { pick } from '../api/problem-responses.js';
import type { ApiSchemas } from '../api/schemas.js';
import { auditedContext } from '../audit/audited-events.js';
import type { GatewayDeps } from '../http/gateway-deps.js';
import { ProblemError } from '../http/problem.js';
import { subjectRef } from '../subjects/subject-ref.js';
import { actorOf, subjectOr404 } from './admin-context.js';
import type { AdminDeps } from './admin-deps.js';
import { adminRoute, json } from './admin-openapi.js';
import type { AdminSchemas } from './admin-schemas.js';
import { grantsJson, subjectJsonSchemas } from './subject-view.js';

const audited = "Audited: the audit entry is written with the change's ledger event, in the same transaction (within a flush interval).";

/**
 * Changes of usage in Redis, each one engine script with its ledger event(s): reset,
 * grants, adjust. Their audit entries travel in the events' context (see audited-events.ts).
 */
export function registerUsageChangeRoutes(app: OpenAPIHono, deps: GatewayDeps, admin: AdminDeps, s: AdminSchemas, api: ApiSchemas): void {
  const { grant } = subjectJsonSchemas(api);

  app.openapi(
    createRoute({
      method: 'post',
      path: '/admin/v1/subjects/{id}/reset',
      ...adminRoute,
      summary: 'Set current-period counters to 0 (all counters, or `metrics`)',
      description: `One \`reset\` event per metric carries the previous value. ${audited}`,
      request: { params: s.subjectParams, body: { ...json(s.reset), required: true } },
      responses: {
        200: { description: 'Reset', ...json(z.object({ reset: z.array(z.object({ metric: z.string(), previous: z.number().int() })) })) },
        ...pick(400, 401, 404, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const body = c.req.valid('json');
      const subject = await subjectOr404(admin, id);
      const context = auditedContext('usage.reset', actorOf(c, body.reason), { request_id: c.get('requestId') });
      const reset = await backend(c, deps, () => deps.engine.reset(subjectRef(subject), body.metrics, context));
      return c.json({ reset }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/admin/v1/subjects/{id}/adjust',
      ...adminRoute,
      summary: 'Correct current usage by `delta` (never below 0)',
      description: audited,
      request: { params: s.subjectParams, body: { ...json(s.adjust), required: true } },
      responses: {
        200: {
          description: 'Adjusted; `applied` is less than `delta` when the usage would have gone below 0',
          ...json(z.object({ metric: z.string(), value: z.number().int(), applied: z.number().int() })),
        },
        ...pick(400, 401, 404, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const body = c.req.valid('json');
      const subject = await subjectOr404(admin, id);
      const context = auditedContext('usage.adjusted', actorOf(c, body.reason), { request_id: c.get('requestId') });
      const result = await backend(c, deps, () => deps.engine.adjust(subjectRef(subject), body.metric, body.delta, context));
      return c.json({ metric: body.metric, ...result }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/admin/v1/subjects/{id}/grants',
      ...adminRoute,
      summary: 'Grant bonus credit of one metric, used after the plan allowance, earliest expiry first',
      description: audited,
      request: { params: s.subjectParams, body: { ...json(s.grant), required: true } },
      responses: {
        201: {
          description: 'Granted',
          ...json(z.object({ id: z.string(), metric: z.string(), amount: z.number().int(), expires_at: z.string().nullable(), balance: z.number().int() })),
        },
        ...pick(400, 401, 404, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const body = c.req.valid('json');
      const expiresAt = body.expires_at === undefined ? null : Date.parse(body.expires_at);
      if (expiresAt !== null && expiresAt <= deps.clock.now()) throw new ProblemError('invalid_request', 'expires_at must be in the future', { field: 'expires_at' });
      const subject = await subjectOr404(admin, id);
      const context = auditedContext('grant.created', actorOf(c, body.reason), { request_id: c.get('requestId') });
      const granted = await backend(c, deps, () => deps.engine.grant(subjectRef(subject), { metric: body.metric, amount: body.amount, expiresAt }, context));
      return c.json({ id: granted.id, metric: body.metric, amount: body.amount, expires_at: body.expires_at ?? null, balance: granted.balance }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/admin/v1/subjects/{id}/grants',
      ...adminRoute,
      summary: "The subject's usable grants, earliest expiry first",
      request: { params: s.subjectParams },
      responses: { 200: { description: 'Grants', ...json(z.object({ items: z.array(grant) })) }, ...pick(400, 401, 404, 503) },
    }),
    async (c) => {
      const subject = await subjectOr404(admin, c.req.valid('param').id);
      return c.json({ items: await backend(c, deps, () => grantsJson(deps, admin, subject)) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/admin/v1/subjects/{id}/grants/{grantId}',
      ...adminRoute,
      summary: 'Revoke a grant: its remaining credit stops counting',
      description: `An optional JSON body \`{"reason": "…"}\` goes into the audit log. ${audited}`,
      request: { params: s.grantParams, body: { ...json(s.revoke), required: false } },
      responses: {
        200: { description: 'Revoked', ...json(z.object({ id: z.string(), metric: z.string(), revoked_remaining: z.number().int(), balance: z.number().int() })) },
        ...pick(400, 401, 404, 503),
      },
    }),
    async (c) => {
      const { id, grantId } = c.req.valid('param');
      const reason = c.req.valid('json')?.reason;
      const subject = await subjectOr404(admin, id);
      const ref = subjectRef(subject);
      const revoked = await backend(c, deps, async () => {
        const held = (await deps.engine.grantsOf(ref)).find((g) => g.id === grantId);
        if (!held) return null;
        const context = auditedContext('grant.revoked', actorOf(c, reason), { request_id: c.get('requestId') });
        const outcome = await deps.engine.revokeGrant(ref, held.metric, grantId, context);
        return outcome.found ? { metric: held.metric, ...outcome } : null;
      });
      if (!revoked) throw new ProblemError('not_found', `subject "${id}" has no usable grant "${grantId}"`, { field: 'grantId' });
      return c.json({ id: grantId, metric: revoked.metric, revoked_remaining: revoked.remaining, balance: revoked.balance }, 200);
    },
  );
}
