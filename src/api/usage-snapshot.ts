import type { Context } from 'hono';
import { usageJson } from '../http/decision-answer.js';
import type { GatewayDeps } from '../http/gateway-deps.js';
import { usageStatus } from '../quota/usage-status.js';
import { subjectRef } from '../subjects/subject-ref.js';
import type { SubjectRecord } from '../subjects/subject.js';
import { backend } from './backend.js';

/** What GET /v1/usage answers and the usage stream pushes: plan and, per metric, usage with percent and status. */
export async function usageSnapshot(c: Context, deps: GatewayDeps, subject: SubjectRecord) {
  const ref = subjectRef(subject);
  const metrics = await backend(c, deps, () => deps.engine.usage(ref));
  return { subject: ref.id, plan: ref.plan, metrics: metrics.map((m) => ({ ...usageJson(m), ...usageStatus(m) })) };
}
