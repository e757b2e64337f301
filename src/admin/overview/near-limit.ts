import { usageEntry } from '../../api/usage-entries.js';
import type { GatewayDeps } from '../../http/gateway-deps.js';
import { loadSubjects } from '../../notify/subject-limits.js';
import { NOTIFY_THRESHOLDS } from '../../notify/thresholds.js';
import type { AdminDeps } from '../admin-deps.js';

/** Newest notifications of each kind read for candidates. */
const CANDIDATE_NOTIFICATIONS = 500;
/** Subjects checked live (one engine read each). */
const CANDIDATE_SUBJECTS = 100;
/** Engine reads at once. */
const AT_ONCE = 20;

export type NearLimitEntry = ReturnType<typeof usageEntry> & { subject: string; plan: string };

/**
 * Subjects at or above the lowest notified threshold (80 %) of a metric, or projected to
 * run out before their period ends, most used first. Candidates are the subjects of the
 * newest usage.threshold and usage.projected_exceed notifications (the worker records them
 * as usage crosses 80 %, so no scan of every subject is needed); each is read live from the
 * engine, so a subject given a grant, upgraded or renewed since drops out.
 */
export async function nearLimit(deps: GatewayDeps, admin: AdminDeps): Promise<NearLimitEntry[]> {
  const { rows } = await admin.pool.query<{ subject_id: string }>(
    `(SELECT subject_id, created_at FROM notifications WHERE kind = 'usage_threshold' ORDER BY created_at DESC LIMIT $1)
     UNION ALL
     (SELECT subject_id, created_at FROM notifications WHERE kind = 'projected_exceed' ORDER BY created_at DESC LIMIT $1)
     ORDER BY created_at DESC`,
    [CANDIDATE_NOTIFICATIONS],
  );
  const subjects = await loadSubjects(admin.pool, [...new Set(rows.map((r) => r.subject_id))].slice(0, CANDIDATE_SUBJECTS));
  const refs = [...subjects.values()];
  const entries: NearLimitEntry[] = [];
  for (let i = 0; i < refs.length; i += AT_ONCE) {
    const read = await Promise.all(
      refs.slice(i, i + AT_ONCE).map(async (ref) => {
        const usage = await deps.engine.usage(ref);
        const forecasts = await deps.history.forecasts(ref, usage);
        return usage.map((m, j) => ({ subject: ref.id, plan: ref.plan, ...usageEntry(m, forecasts[j] ?? null) }));
      }),
    );
    entries.push(...read.flat().filter((e) => (e.percent ?? 0) >= NOTIFY_THRESHOLDS[0]! || e.forecast?.limit_reached_at != null));
  }
  return entries.sort((a, b) => (b.percent ?? 0) - (a.percent ?? 0) || a.subject.localeCompare(b.subject));
}
