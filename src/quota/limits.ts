import { defaultPlanName, periodLimit, type PlanDef, type Policy } from '../config/policy.js';
import type { SubjectRef } from './types.js';

/** The subject's plan; a plan no longer in the policy falls back to the default plan. */
export function planOf(policy: Policy, subject: SubjectRef): PlanDef {
  return policy.plans[subject.plan] ?? policy.plans[defaultPlanName(policy)]!;
}

/** The subject's limit of one metric: its override when set, else the plan's. null = unlimited. */
export function limitOf(policy: Policy, subject: SubjectRef, metric: string): number | null {
  const override = subject.overrides?.[metric];
  if (override !== undefined) return override;
  // `null` means unlimited, so only a metric missing from the plan falls back to 0.
  const limit = planOf(policy, subject).limits[metric];
  return limit === undefined ? 0 : periodLimit(limit);
}
