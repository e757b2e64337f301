import type { Queryable } from '../db/transaction.js';
import type { SubjectRef } from '../quota/types.js';

/** What the worker's notifications read of subjects from Postgres: who they are and their usable grants. */

/** `subject\0metric`: the key of grantBalances' answer. */
export const pairKey = (subjectId: string, metric: string): string => `${subjectId}\u0000${metric}`;

/** The live (not deleted) subjects among `ids`, as the engine sees them. */
export async function loadSubjects(db: Queryable, ids: readonly string[]): Promise<Map<string, SubjectRef>> {
  const { rows } = await db.query<{ id: string; plan: string; anchor: Date | null; overrides: Record<string, number | null> }>(
    `SELECT id, plan, anchor, overrides FROM subjects WHERE id = ANY($1::text[]) AND deleted_at IS NULL`,
    [[...new Set(ids)]],
  );
  return new Map(rows.map((r) => [r.id, { id: r.id, plan: r.plan, anchor: r.anchor?.getTime() ?? null, overrides: r.overrides }]));
}

/** Usable grant balance per pairKey (unrevoked, unexpired at `now`, remaining > 0); absent pairs have none. */
export async function grantBalances(db: Queryable, pairs: readonly { subjectId: string; metric: string }[], now: number): Promise<Map<string, number>> {
  const unique = [...new Map(pairs.map((p) => [pairKey(p.subjectId, p.metric), p])).values()];
  const { rows } = await db.query<{ subject_id: string; metric: string; balance: string }>(
    `SELECT g.subject_id, g.metric, sum(g.remaining) AS balance
       FROM grants g
       JOIN unnest($1::text[], $2::text[]) AS p(subject_id, metric) USING (subject_id, metric)
      WHERE g.revoked_at IS NULL AND g.remaining > 0 AND (g.expires_at IS NULL OR g.expires_at > $3)
      GROUP BY g.subject_id, g.metric`,
    [unique.map((p) => p.subjectId), unique.map((p) => p.metric), new Date(now).toISOString()],
  );
  return new Map(rows.map((r) => [pairKey(r.subject_id, r.metric), Number(r.balance)]));
}
