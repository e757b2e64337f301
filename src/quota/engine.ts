import type { Policy } from '../config/policy.js';
import { systemClock, type Clock } from '../lib/clock.js';
import type { RedisClient } from '../redis/client.js';
import type { KeySchema } from '../redis/keys.js';
import { Scripts } from '../redis/scripts/registry.js';
import type { ReturnKind } from '../redis/scripts/return-hold.js';
import { decide, type ConsumeInput } from './decide.js';
import { DecisionVoids, type VoidReport } from './decision-voids.js';
import type { EngineContext, EngineOptions } from './engine-context.js';
import * as holds from './holds.js';
import type { Hydrator } from './hydration.js';
import { HydratingScripts } from './hydrating-scripts.js';
import { MetricLines } from './metric-lines.js';
import * as reads from './reads.js';
import type { Decision, HoldOutcome, HoldRef, MetricUsage, RefundRef, SubjectRef } from './types.js';
import * as changes from './usage-changes.js';

export const defaultEngineOptions: EngineOptions = {
  idempotencyTtlMs: 86_400_000,
  holdTtlMs: 600_000,
  counterGraceMs: 3 * 86_400_000,
  denialTallyTtlMs: 600_000,
  decisionTimeoutMs: 0,
  voidWindowMs: 60_000,
};

/**
 * The quota engine: every decision and every change of usage is one Redis script call,
 * with its ledger events written to the outbox in the same step. It orchestrates — policy
 * → lines, the call (src/redis/scripts/), hydration and retry, the reply → a decision — by
 * concern: decide.ts, holds.ts, usage-changes.ts, reads.ts.
 */
export class QuotaEngine {
  /** The script registry the engine runs on (the gateway preloads it for readiness). */
  readonly scripts: Scripts;
  private readonly ctx: EngineContext;

  constructor(deps: {
    redis: RedisClient;
    keys: KeySchema;
    policy: Policy;
    hydrator: Hydrator;
    clock?: Clock;
    /**
     * Redis's clock as seen from here. With `decisionTimeoutMs`, a consume that reaches
     * Redis later than that after it was sent is refused unapplied (its caller has given up).
     */
    redisTime?: { now(): number | null };
    options?: Partial<EngineOptions>;
    /** Shared with the other users of the same connection (the worker's ledger jobs). */
    scripts?: Scripts;
    /** Told what became of each void of a decision whose reply never arrived (`gave_up`: it stays charged). */
    onVoid?: (report: VoidReport) => void;
  }) {
    this.scripts = deps.scripts ?? new Scripts(deps.redis);
    const clock = deps.clock ?? systemClock;
    const options = { ...defaultEngineOptions, ...deps.options };
    const scripts = new HydratingScripts(this.scripts, deps.keys, deps.hydrator);
    this.ctx = {
      redis: deps.redis,
      keys: deps.keys,
      policy: deps.policy,
      clock,
      options,
      lines: new MetricLines(deps.policy, clock, options.counterGraceMs),
      scripts,
      redisTime: deps.redisTime,
      voids: new DecisionVoids({ scripts, keys: deps.keys, clock }, deps.onVoid),
    };
  }

  get keys(): KeySchema {
    return this.ctx.keys;
  }

  get policy(): Policy {
    return this.ctx.policy;
  }

  /** Decide and apply a request's charge (rate, idempotency, concurrency, quota). */
  consume(input: ConsumeInput): Promise<Decision> {
    return decide(this.ctx, input, input.mode === 'shadow' ? 'shadow' : 'apply');
  }

  /** The decision `consume` would make now, applying nothing. */
  check(input: ConsumeInput): Promise<Decision> {
    return decide(this.ctx, input, 'peek');
  }

  /** Current usage of every metric (or the given ones), rebuilt from the ledger if Redis lost it. */
  usage(subject: SubjectRef, metrics: readonly string[] = Object.keys(this.policy.metrics)): Promise<MetricUsage[]> {
    return reads.usage(this.ctx, subject, metrics);
  }

  grantsOf(subject: SubjectRef): Promise<reads.LiveGrant[]> {
    return reads.grantsOf(this.ctx, subject);
  }

  settle(subject: SubjectRef, hold: HoldRef, actuals: Readonly<Record<string, number>> = {}, options: { response?: string } = {}): Promise<HoldOutcome> {
    return holds.settleHold(this.ctx, subject, hold, actuals, options.response);
  }

  returnHold(subjectId: string, hold: HoldRef, kind: ReturnKind): Promise<HoldOutcome> {
    return holds.returnHold(this.ctx, subjectId, hold, kind);
  }

  refund(ref: RefundRef): Promise<'refunded' | 'not_found'> {
    return holds.refundCharge(this.ctx, ref);
  }

  /** Voids still retrying in the background (a shutdown waits for them). */
  get voids(): DecisionVoids {
    return this.ctx.voids;
  }

  readHold(subjectId: string, holdId: string): Promise<HoldRef | null> {
    return holds.readHold(this.ctx, subjectId, holdId);
  }

  expireHolds(partition: number, batch = 200): Promise<number> {
    return holds.expireHolds(this.ctx, partition, batch);
  }

  release(subject: SubjectRef, metric: string, amount: number, options: Parameters<typeof changes.release>[4] = {}): ReturnType<typeof changes.release> {
    return changes.release(this.ctx, subject, metric, amount, options);
  }

  reset(subject: SubjectRef, metrics: readonly string[] | undefined, context: Record<string, unknown>): ReturnType<typeof changes.reset> {
    return changes.reset(this.ctx, subject, metrics, context);
  }

  grant(subject: SubjectRef, grant: Parameters<typeof changes.grant>[2], context: Record<string, unknown>): ReturnType<typeof changes.grant> {
    return changes.grant(this.ctx, subject, grant, context);
  }

  revokeGrant(subject: SubjectRef, metric: string, grantId: string, context: Record<string, unknown>): ReturnType<typeof changes.revokeGrant> {
    return changes.revokeGrant(this.ctx, subject, metric, grantId, context);
  }

  adjust(subject: SubjectRef, metric: string, delta: number, context: Record<string, unknown>): ReturnType<typeof changes.adjust> {
    return changes.adjust(this.ctx, subject, metric, delta, context);
  }
}
