import { z } from '@hono/zod-openapi';
import type { ApiSchemas } from '../api/schemas.js';
import { usageEntries } from '../api/usage-entries.js';
import type { GatewayDeps } from '../http/gateway-deps.js';
import { periodAt } from '../lib/period.js';
import type { SubjectRecord } from '../subjects/subject.js';
import { subjectRef } from '../subjects/subject-ref.js';
import type { AdminDeps } from './admin-deps.js';
import { isoOrNull } from '../lib/iso-time.js';

/** JSON schemas of what the admin API answers about subjects. */
export function subjectJsonSchemas(api: ApiSchemas) {
  const subject = z
    .object({
      id: z.string(),
      plan: z.string(),
      anchor: z.string().nullable().openapi({ description: 'Billing anchor; null: calendar months (UTC)' }),
      overrides: z.record(z.string(), z.number().int().nullable()),
      created_at: z.string(),
      updated_at: z.string(),
    })
    .openapi('Subject');
  const grant = z
    .object({
      id: z.string(),
      metric: z.string(),
      remaining: z.number().int(),
      amount: z.number().int().nullable().openapi({ description: 'null until the worker has written the grant to the ledger' }),
      expires_at: z.string().nullable(),
      reason: z.string().nullable(),
      created_by: z.string().nullable(),
      created_at: z.string().nullable(),
    })
    .openapi('Grant');
  const detail = subject
    .extend({
      period: z.object({ start: z.string(), end: z.string() }).openapi({ description: 'The current period of counter metrics' }),
      metrics: z.array(api.usageEntry),
      grants: z.array(grant),
    })
    .openapi('SubjectDetail');
  return { subject, grant, detail };
}

export const subjectJson = (s: SubjectRecord) => ({
  id: s.id,
  plan: s.plan,
  anchor: isoOrNull(s.anchor),
  overrides: s.overrides,
  created_at: s.createdAt.toISOString(),
  updated_at: s.updatedAt.toISOString(),
});

/**
 * The subject's live grants: balances from Redis (what decisions use), the rest (amount,
 * reason, author) from the ledger's `grants` table, which the worker fills a moment later.
 */
export async function grantsJson(deps: GatewayDeps, admin: AdminDeps, subject: SubjectRecord) {
  const live = await deps.engine.grantsOf(subjectRef(subject));
  const { rows } = await admin.pool.query<{ id: string; amount: string; reason: string | null; created_by: string | null; created_at: Date }>(
    'SELECT id, amount, reason, created_by, created_at FROM grants WHERE subject_id = $1 AND id = ANY($2)',
    [subject.id, live.map((g) => g.id)],
  );
  const meta = new Map(rows.map((r) => [r.id, r]));
  return live.map((g) => {
    const m = meta.get(g.id);
    return {
      id: g.id,
      metric: g.metric,
      remaining: g.remaining,
      amount: m ? Number(m.amount) : null,
      expires_at: isoOrNull(g.expiresAt),
      reason: m?.reason ?? null,
      created_by: m?.created_by ?? null,
      created_at: m ? m.created_at.toISOString() : null,
    };
  });
}

/** Plan, period, usage per metric with its forecast (as GET /v1/usage shows it) and grants. */
export async function subjectDetailJson(deps: GatewayDeps, admin: AdminDeps, subject: SubjectRecord) {
  const ref = subjectRef(subject);
  const [metrics, grants] = await Promise.all([deps.engine.usage(ref).then((usage) => usageEntries(deps, ref, usage)), grantsJson(deps, admin, subject)]);
  const period = periodAt(deps.clock.now(), subject.anchor);
  return {
    ...subjectJson(subject),
    period: { start: isoOrNull(period.start)!, end: isoOrNull(period.end)! },
    metrics,
    grants,
  };
}
