import type { Policy } from '../config/policy.js';
import type { Clock } from '../lib/clock.js';
import type { RedisClient } from '../redis/client.js';
import type { KeySchema } from '../redis/keys.js';
import type { DecisionVoids } from './decision-voids.js';
import type { HydratingScripts } from './hydrating-scripts.js';
import type { MetricLines } from './metric-lines.js';

export interface EngineOptions {
  /** How long an idempotency record answers replays. */
  idempotencyTtlMs: number;
  /** Default lifetime of a hold (reservation) before the expiry job returns it. */
  holdTtlMs: number;
  /** How long a counter outlives its period. */
  counterGraceMs: number;
  /** How long a minute's denial tally is kept for abuse detection. */
  denialTallyTtlMs: number;
  /** The caller's wait for a decision (its Redis command timeout); 0 = no deadline. */
  decisionTimeoutMs: number;
  /**
   * How long a decision whose reply never arrived can still be given back by its request id
   * (the consume keeps its refund record this long); 0 = decisions are never voided.
   */
  voidWindowMs: number;
}

/** What the engine's operations share: built once by QuotaEngine. */
export interface EngineContext {
  redis: RedisClient;
  keys: KeySchema;
  policy: Policy;
  clock: Clock;
  options: EngineOptions;
  lines: MetricLines;
  scripts: HydratingScripts;
  /** Redis's clock as seen from here (see QuotaEngine's `redisTime`). */
  redisTime: { now(): number | null } | undefined;
  /** Voids of decisions whose reply did not arrive, some still retrying. */
  voids: DecisionVoids;
}
