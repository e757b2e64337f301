import type { Redis } from 'ioredis';
import { loadPolicyFile } from '../../src/config/load-policy.js';
import type { Policy } from '../../src/config/policy.js';
import type { HydrationData, HydrationRequest, Hydrator } from '../../src/quota/hydration.js';
import type { ConsumeInput } from '../../src/quota/decide.js';
import { Scripts, type ScriptCall } from '../../src/redis/scripts/registry.js';
import type { SubjectRef } from '../../src/quota/types.js';

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

export interface RecordedCall {
  keys: readonly string[];
  args: readonly (string | number)[];
}

/** The engine's scripts, keeping the KEYS and ARGV of every call of one script. */
export class RecordingScripts extends Scripts {
  readonly calls: RecordedCall[] = [];
  constructor(
    redis: Redis,
    private readonly recorded: ScriptCall<unknown>['script'],
  ) {
    super(redis);
  }

  override run<R>(call: ScriptCall<R>): Promise<R> {
    if (call.script === this.recorded) this.calls.push({ keys: call.keys, args: call.args });
    return super.run(call);
  }
}

/**
 * A recorded call sent again with other values: each is found by value wherever it occurs
 * in KEYS and ARGV (not by position), so any layout of the script works.
 */
export function substituted(call: RecordedCall, replacements: readonly [from: string, to: string][]): { keys: string[]; args: string[] } {
  const replace = (v: string | number) => replacements.reduce((s, [from, to]) => s.replaceAll(from, to), String(v));
  return { keys: call.keys.map(replace), args: call.args.map(replace) };
}
