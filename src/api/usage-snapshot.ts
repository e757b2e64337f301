import type { Context } from 'hono';
import type { GatewayDeps } from '../http/gateway-deps.js';
import { subjectRef } from '../subjects/subject-ref.js';
import type { SubjectRecord } from '../subjects/subject.js';
import { backend } from './backend.js';
import { usageEntries } from './usage-entries.js';

/** What GET /v1/usage answers and the usage stream pushes: plan and, per metric, usage with percent, status and forecast. */
export async function usageSnapshot(c: Context, deps: GatewayDeps, subject: SubjectRecord) {
  const ref = subjectRef(subject);
  const usage = await backend(c, deps, () => deps.engine.usage(ref));
  return { subject: ref.id, plan: ref.plan, metrics: await usageEntries(deps, ref, usage) };
}
