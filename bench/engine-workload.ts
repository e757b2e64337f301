import { loadPolicyFile } from '../src/config/load-policy.js';
import type { Policy } from '../src/config/policy.js';
import type { HydrationData, HydrationRequest, Hydrator } from '../src/quota/hydration.js';
import type { ConsumeInput } from '../src/quota/engine.js';
import { Scripts, type ScriptName } from '../src/redis/scripts.js';
import type { SubjectRef } from '../src/quota/types.js';

/**
 * What `npm run bench:engine` decides: one request of the shipped policy's `growth` plan —
 * 1 unit of a counter metric (with its grants hash checked, as for any limited metric)
 * plus the plan's request rate in one rate class — for a random one of 10,000 subjects.
 * The plan's limit on that metric is raised so that nothing is ever denied.
 */
export const POLICY_FILE = 'config/policy.yaml';
export const BASE_PLAN = 'growth';
export const BENCH_PLAN = 'bench';
export const METRIC = 'ai_generations';
export const LIMIT = 1_000_000_000;
export const RATE_CLASS = 'bench';
export const SUBJECTS = 10_000;

/** `growth` with the metric's limit raised; everything else as shipped. */
export function benchPolicy(): Policy {
  const policy = loadPolicyFile(POLICY_FILE);
  const base = policy.plans[BASE_PLAN];
  if (!base) throw new Error(`${POLICY_FILE} has no "${BASE_PLAN}" plan to base the benchmark on`);
  if (policy.metrics[METRIC]?.kind !== 'counter') throw new Error(`${POLICY_FILE} has no counter metric "${METRIC}"`);
  if (!base.rate) throw new Error(`the "${BASE_PLAN}" plan of ${POLICY_FILE} has no request rate`);
  return { ...policy, plans: { ...policy.plans, [BENCH_PLAN]: { ...base, limits: { ...base.limits, [METRIC]: LIMIT } } } };
}

/**
 * Subject `i` is `sub-<i as 12 digits>`: exactly what redis-benchmark's `__rand_int__`
 * expands to, so both address the same 10,000 subjects.
 */
export const subjectId = (i: number): string => `sub-${String(i).padStart(12, '0')}`;
export const SUBJECT_PLACEHOLDER = 'sub-__rand_int__';

export const subjects = (): SubjectRef[] => Array.from({ length: SUBJECTS }, (_, i) => ({ id: subjectId(i), plan: BENCH_PLAN, anchor: null }));

/** One request, built per call as a gateway would. */
export const consumeInput = (subject: SubjectRef): ConsumeInput => ({
  subject,
  charges: [{ metric: METRIC, amount: 1 }],
  rateClass: RATE_CLASS,
  context: { route: 'bench' },
});

/**
 * The ledger of a brand-new deployment: every subject starts at 0 with no grants. The
 * warm-up pass hydrates each subject through it once; a measured phase must not call it
 * at all (`calls` tells), so which ledger backs it never shows in the figures.
 */
export class EmptyLedger implements Hydrator {
  calls = 0;
  async load(request: HydrationRequest): Promise<HydrationData> {
    this.calls++;
    return { usage: request.usage.map(() => 0), grants: Object.fromEntries(request.grants.map((m) => [m, []])) };
  }
}

/** The engine's scripts, remembering the keys and arguments of the last call of each. */
export class RecordingScripts extends Scripts {
  readonly last = new Map<ScriptName, { keys: readonly string[]; args: readonly (string | number)[] }>();
  override run(name: ScriptName, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    this.last.set(name, { keys: [...keys], args: [...args] });
    return super.run(name, keys, args);
  }
}
