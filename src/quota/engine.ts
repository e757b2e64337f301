import type { MetricKind, Policy } from '../config/policy.js';
import { systemClock, type Clock } from '../lib/clock.js';
import { newId } from '../lib/ids.js';
import { periodAt, type Period } from '../lib/period.js';
import { Scripts, type RedisClient, type ScriptName } from '../redis/scripts.js';
import type { Hydrator } from './hydration.js';
import type { KeySchema } from './keys.js';
import { limitOf, planOf } from './limits.js';
import { remainingUnits } from './usage-status.js';
import {
  decodeConsume,
  decodeHoldEnd,
  decodeValues,
  ReplyCode,
  type Decided,
  type Missing,
} from './replies.js';
import type {
  Allowed,
  Charge,
  Decision,
  HoldLine,
  HoldOutcome,
  HoldRef,
  MetricUsage,
  RateState,
  RefundRef,
  SubjectRef,
} from './types.js';

export interface EngineOptions {
  /** How long an idempotency record answers replays. */
  idempotencyTtlMs: number;
  /** Default lifetime of a hold (reservation) before the expiry job releases it. */
  holdTtlMs: number;
  /** How long a counter outlives its period. */
  counterGraceMs: number;
  /** How long a minute's denial tally is kept for abuse detection. */
  denialTallyTtlMs: number;
  /** The caller's wait for a decision (its Redis command timeout); 0 = no deadline. */
  decisionTimeoutMs: number;
}

export const defaultEngineOptions: EngineOptions = {
  idempotencyTtlMs: 86_400_000,
  holdTtlMs: 600_000,
  counterGraceMs: 3 * 86_400_000,
  denialTallyTtlMs: 600_000,
  decisionTimeoutMs: 0,
};

/** Largest amount accepted anywhere: far above any real charge, well inside exact integers. */
export const MAX_AMOUNT = 1_000_000_000_000;
/** The longest billing period (31 days); bounds a counter's life when only its start is known. */
const MAX_PERIOD_MS = 31 * 86_400_000;
const MAX_HYDRATION_ATTEMPTS = 3;

/** A grant as Redis holds it now. */
export interface LiveGrant {
  id: string;
  metric: string;
  remaining: number;
  /** ms; null = never. */
  expiresAt: number | null;
}

/** A caller broke the engine's contract (unknown metric, bad amount): a bug upstream of it. */
export class EngineInputError extends Error {
  override name = 'EngineInputError';
}

/** The decision reached Redis after its caller stopped waiting; nothing was applied. */
export class DecisionExpiredError extends Error {
  override name = 'DecisionExpiredError';
}

/** Redis kept answering "needs hydration" after the ledger values were written back. */
export class HydrationError extends Error {
  override name = 'HydrationError';
}

export interface ConsumeInput {
  subject: SubjectRef;
  charges: readonly Charge[];
  /** Unique per request; becomes the hold id and the base of its event ids. */
  requestId?: string;
  /** Apply the plan's request rate, in this bucket (usually the route's rate class). */
  rateClass?: string;
  /** Take one of the plan's concurrency leases until the hold ends. */
  concurrency?: boolean;
  idempotency?: { key: string; fingerprint: string };
  /**
   * Keep a hold for this long (ms): held lines, the lease and an in-flight idempotency
   * record wait for settle or release. Defaults to the hold TTL when anything is held.
   */
  holdTtlMs?: number;
  /**
   * Charge outright, without a hold, but keep what `refund` needs (the grants drawn) for
   * this long (ms), so an upstream failure can give the charge back. Not with a hold.
   */
  refundTtlMs?: number;
  /** `shadow`: decide and record, but never deny. */
  mode?: 'enforce' | 'shadow';
  /** Stored with every event (route, idempotency key, actor, ...). */
  context?: Record<string, unknown>;
}

/** One metric as a script sees it: its limit, period and keys for one subject. */
interface Line {
  metric: string;
  kind: MetricKind;
  limit: number | null;
  periodStart: number | null;
  periodEnd: number | null;
  usageKey: string;
  grantsKey: string;
  /**
   * How long the usage key lives from now (ms), applied by the scripts on Redis's own clock:
   * the time left in its period plus grace. 0 = never (gauges).
   */
  ttlMs: number;
}

type Mode = 'apply' | 'peek' | 'shadow';

/**
 * The quota engine: every decision and every change of usage is one Redis script call,
 * with its ledger events written to the outbox in the same step.
 */
export class QuotaEngine {
  readonly scripts: Scripts;
  private readonly clock: Clock;
  private readonly options: EngineOptions;
  /** The period `periodOf` found last, with its anchor. */
  private lastPeriod: (Period & { anchor: number | null }) | undefined;

  constructor(
    private readonly deps: {
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
      scripts?: Scripts;
    },
  ) {
    this.scripts = deps.scripts ?? new Scripts(deps.redis);
    this.clock = deps.clock ?? systemClock;
    this.options = { ...defaultEngineOptions, ...deps.options };
  }

  get keys(): KeySchema {
    return this.deps.keys;
  }

  get policy(): Policy {
    return this.deps.policy;
  }

  /** Decide and apply a request's charge (rate, idempotency, concurrency, quota). */
  consume(input: ConsumeInput): Promise<Decision> {
    return this.decide(input, input.mode === 'shadow' ? 'shadow' : 'apply');
  }

  /** The decision `consume` would make now, applying nothing. */
  check(input: ConsumeInput): Promise<Decision> {
    return this.decide(input, 'peek');
  }

  /** Current usage of every metric (or the given ones), rebuilt from the ledger if Redis lost it. */
  async usage(subject: SubjectRef, metrics: readonly string[] = Object.keys(this.policy.metrics)): Promise<MetricUsage[]> {
    const decision = await this.decide({ subject, charges: metrics.map((metric) => ({ metric, amount: 0 })) }, 'peek');
    if (decision.outcome !== 'allowed') throw new Error(`usage read was answered ${decision.outcome}`);
    return decision.metrics;
  }

  private async decide(input: ConsumeInput, mode: Mode): Promise<Decision> {
    const { subject, charges } = input;
    this.checkCharges(charges);
    const now = this.clock.now();
    const plan = planOf(this.policy, subject);
    const requestId = input.requestId ?? newId();
    const lines = charges.map((c) => this.line(subject, c.metric, now));
    const rate = input.rateClass !== undefined && plan.rate ? plan.rate : null;
    const concurrency = input.concurrency && plan.concurrency ? plan.concurrency : 0;
    const held = charges.some((c) => c.held) || concurrency > 0;
    const holdTtlMs = input.holdTtlMs ?? (held ? this.options.holdTtlMs : 0);
    if (held && holdTtlMs <= 0) throw new EngineInputError('held charges and leases need a hold TTL > 0');
    const idem = input.idempotency;
    const refundTtlMs = mode === 'peek' ? 0 : (input.refundTtlMs ?? 0);
    if (refundTtlMs > 0 && (holdTtlMs > 0 || idem)) throw new EngineInputError('a refundable charge without a hold cannot also hold or carry an idempotency key');

    // The layout is documented in lua/consume.lua.
    const k = this.keys;
    const partition = k.partitionOf(subject.id);
    const keys = [k.outbox(partition), k.denials(partition, now - (now % 60_000)), k.rate(subject.id, input.rateClass ?? '-')];
    // Events carry the key, so the ledger can spot a key charged twice after Redis lost it.
    const context = JSON.stringify(idem ? { ...input.context, idempotency_key: idem.key } : (input.context ?? {}));
    const args: (string | number)[] = [
      now,
      subject.id,
      requestId,
      mode,
      rate ? 1000 / rate.rps : 0,
      rate?.burst ?? 0,
      context,
      this.options.denialTallyTtlMs,
      lines.length,
    ];
    charges.forEach((charge, i) => {
      const line = lines[i]!;
      keys.push(line.usageKey, line.grantsKey);
      args.push(line.metric, line.kind === 'counter' ? 'c' : 'g', line.periodStart ?? '', line.limit ?? -1, charge.amount, line.ttlMs);
    });
    // The hold section: most requests have neither a hold nor an idempotency key, and leave
    // out its keys and values (every argument costs client and Redis CPU).
    if (holdTtlMs > 0 || idem) {
      keys.push(k.holdDeadlines(partition), k.concurrency(subject.id), k.idempotency(subject.id, idem?.key ?? '-'), k.hold(subject.id, requestId));
      args.push(concurrency, idem?.fingerprint ?? '', this.options.idempotencyTtlMs, holdTtlMs, idem?.key ?? '');
      for (const charge of charges) args.push(charge.held ? '1' : '0');
    } else if (refundTtlMs > 0) {
      keys.push(k.refund(subject.id, requestId));
      args.push(refundTtlMs);
    }

    args.push(0); // the deadline, set at each attempt: it counts from when the call is sent
    const reply = await this.withHydration(subject.id, lines, async () => {
      const redisNow = mode === 'peek' || this.options.decisionTimeoutMs === 0 ? null : (this.deps.redisTime?.now() ?? null);
      args[args.length - 1] = redisNow === null ? 0 : Math.ceil(redisNow + this.options.decisionTimeoutMs);
      return decodeConsume(await this.scripts.run('consume', keys, args));
    });
    const rateState = (r: Decided): RateState | null =>
      rate && { limit: rate.burst, rps: rate.rps, remaining: r.rateRemaining, resetMs: r.rateResetMs };

    const lineOf = (c: Charge, i: number): HoldLine => ({ metric: c.metric, kind: lines[i]!.kind, periodStart: lines[i]!.periodStart, amount: c.amount });
    const allowed = (r: Decided, id: string, hold: HoldRef | null, refund: RefundRef | null): Allowed => ({
      outcome: 'allowed',
      requestId: id,
      metrics: this.usageOf(lines, r.metrics),
      rate: rateState(r),
      concurrency: concurrency > 0 ? { limit: concurrency, inUse: r.leases } : null,
      hold,
      refund,
      wouldDeny:
        r.flag === 0
          ? null
          : r.flag === -1
            ? { reason: 'rate' }
            : r.flag === -2
              ? { reason: 'concurrency' }
              : { reason: 'quota', metric: lines[r.flag - 1]!.metric },
    });

    switch (reply.code) {
      case ReplyCode.Ok: {
        const hold: HoldRef | null =
          mode !== 'peek' && holdTtlMs > 0
            ? {
                id: requestId,
                subjectId: subject.id,
                idempotencyKey: idem?.key ?? null,
                lines: charges.flatMap((c, i) => (c.held ? [lineOf(c, i)] : [])),
              }
            : null;
        // No line is held here (a hold and a refund TTL exclude each other): line j is metric j of the script.
        const refund = refundTtlMs > 0 ? { requestId, subjectId: subject.id, lines: charges.map(lineOf), context, ttlMs: refundTtlMs } : null;
        return allowed(reply, requestId, hold, refund);
      }
      case ReplyCode.DeniedQuota:
        return {
          outcome: 'denied',
          reason: 'quota',
          metric: lines[reply.flag - 1]!.metric,
          requested: charges[reply.flag - 1]!.amount,
          metrics: this.usageOf(lines, reply.metrics),
          rate: rateState(reply),
        };
      case ReplyCode.DeniedRate:
        return {
          outcome: 'denied',
          reason: 'rate',
          retryAfterMs: reply.rateRetryMs,
          rate: { limit: rate!.burst, rps: rate!.rps, remaining: 0, resetMs: reply.rateResetMs },
        };
      case ReplyCode.DeniedConcurrency:
        return { outcome: 'denied', reason: 'concurrency', limit: concurrency, inUse: reply.leases, rate: rateState(reply) };
      case ReplyCode.Replayed:
        return { outcome: 'replayed', original: allowed(reply.original, reply.requestId, null, null), response: reply.response };
      case ReplyCode.IdempotencyMismatch:
        return { outcome: 'idempotency_mismatch' };
      case ReplyCode.IdempotencyInFlight:
        return { outcome: 'idempotency_in_flight' };
      case ReplyCode.Expired:
        throw new DecisionExpiredError(`the decision reached Redis more than ${this.options.decisionTimeoutMs} ms after it was sent; nothing was applied`);
    }
  }

  /**
   * End a hold with actual amounts (metric → units). Lines not named keep their held amount;
   * `response` is stored with the idempotency record for replays.
   */
  async settle(
    subject: SubjectRef,
    hold: HoldRef,
    actuals: Readonly<Record<string, number>> = {},
    options: { response?: string } = {},
  ): Promise<HoldOutcome> {
    for (const [metric, amount] of Object.entries(actuals)) {
      if (!hold.lines.some((l) => l.metric === metric)) throw new EngineInputError(`hold ${hold.id} has no line for "${metric}"`);
      this.checkAmount(amount);
    }
    const lines = hold.lines.map((l) => this.holdLine(subject.id, l, limitOf(this.policy, subject, l.metric), subject.anchor));
    const args: (string | number)[] = [this.clock.now(), subject.id, newId(), hold.id, this.options.idempotencyTtlMs, options.response ?? '', lines.length];
    for (const line of lines) args.push(actuals[line.metric] ?? '', line.limit ?? -1);
    return this.endHold('settle', hold, lines, args);
  }

  /** End a hold by giving everything back: `refund` (upstream failed) or `release` (cancelled). */
  async releaseHold(subjectId: string, hold: HoldRef, kind: 'refund' | 'release' | 'expire'): Promise<HoldOutcome> {
    const lines = hold.lines.map((l) => this.holdLine(subjectId, l, null, undefined));
    const args = [this.clock.now(), subjectId, newId(), hold.id, kind, lines.length];
    return this.endHold('release-hold', hold, lines, args);
  }

  /**
   * Give back a charge consumed outright with `refundTtlMs` (the upstream failed): one
   * `refund` event per line. At most once per request: a repeat answers `not_found`.
   */
  async refund(ref: RefundRef): Promise<'refunded' | 'not_found'> {
    const lines = ref.lines.map((l) => this.holdLine(ref.subjectId, l, null, undefined));
    const keys = [this.outboxOf(ref.subjectId), this.keys.refund(ref.subjectId, ref.requestId), ...lines.flatMap((l) => [l.usageKey, l.grantsKey])];
    const args: (string | number)[] = [this.clock.now(), ref.subjectId, ref.requestId, ref.ttlMs, ref.context, lines.length];
    for (const l of ref.lines) args.push(l.metric, l.periodStart ?? '', l.amount);
    const reply = await this.withHydration(ref.subjectId, lines, async () => decodeValues('refund', await this.scripts.run('refund', keys, args)));
    if (reply.code === ReplyCode.NotFound) return 'not_found';
    this.okValues('refund', reply);
    return 'refunded';
  }

  /** Reads a hold by id (for settle or release by a later API call); null when it has ended. */
  async readHold(subjectId: string, holdId: string): Promise<HoldRef | null> {
    const raw = await this.deps.redis.get(this.keys.hold(subjectId, holdId));
    if (raw === null) return null;
    const stored = JSON.parse(raw) as { l: unknown; i: string };
    // cjson writes an empty Lua table as {}.
    const storedLines = Array.isArray(stored.l) ? (stored.l as { m: string; k: 'c' | 'g'; p: string; a: number }[]) : [];
    return {
      id: holdId,
      subjectId,
      idempotencyKey: stored.i === '' ? null : stored.i,
      lines: storedLines.map((l) => ({
        metric: l.m,
        kind: l.k === 'c' ? 'counter' : 'gauge',
        periodStart: l.p === '' ? null : Number(l.p),
        amount: l.a,
      })),
    };
  }

  /** Releases every hold of a partition whose deadline has passed; returns how many. */
  async expireHolds(partition: number, batch = 200): Promise<number> {
    const due = await this.deps.redis.zrangebyscore(this.keys.holdDeadlines(partition), '-inf', this.clock.now(), 'LIMIT', 0, batch);
    let expired = 0;
    for (const member of due) {
      const cut = member.lastIndexOf('|');
      const subjectId = member.slice(0, cut);
      const hold = (await this.readHold(subjectId, member.slice(cut + 1))) ?? {
        id: member.slice(cut + 1),
        subjectId,
        idempotencyKey: null,
        lines: [],
      };
      const outcome = await this.releaseHold(subjectId, hold, 'expire');
      if (outcome.outcome === 'ended') expired++;
    }
    return expired;
  }

  /** Lower a gauge (never below 0; never needs quota). */
  async release(
    subject: SubjectRef,
    metric: string,
    amount: number,
    options: { idempotency?: { key: string; fingerprint: string }; context?: Record<string, unknown> } = {},
  ): Promise<
    | { outcome: 'released' | 'replayed'; level: number; released: number }
    | { outcome: 'idempotency_mismatch' | 'idempotency_in_flight' }
  > {
    this.checkAmount(amount);
    const line = this.line(subject, metric, this.clock.now());
    if (line.kind !== 'gauge') throw new EngineInputError(`"${metric}" is a counter; only gauges are released`);
    const { idempotency, context } = options;
    const keys = [this.outboxOf(subject.id), line.usageKey, this.keys.idempotency(subject.id, idempotency?.key ?? '-')];
    const eventContext = idempotency ? { ...context, idempotency_key: idempotency.key } : (context ?? {});
    const args = [this.clock.now(), subject.id, newId(), metric, amount, JSON.stringify(eventContext), idempotency?.fingerprint ?? '', this.options.idempotencyTtlMs];
    const reply = await this.withHydration(subject.id, [line], async () => decodeValues('release', await this.scripts.run('release', keys, args)));
    switch (reply.code) {
      case ReplyCode.Ok:
      case ReplyCode.Replayed:
        return { outcome: reply.code === ReplyCode.Ok ? 'released' : 'replayed', level: reply.values[0]!, released: reply.values[1]! };
      case ReplyCode.IdempotencyMismatch:
        return { outcome: 'idempotency_mismatch' };
      case ReplyCode.IdempotencyInFlight:
        return { outcome: 'idempotency_in_flight' };
      default:
        throw new Error(`release answered code ${reply.code}`);
    }
  }

  /** Set the current period's counters to 0 (all counter metrics by default). */
  async reset(
    subject: SubjectRef,
    metrics: readonly string[] | undefined,
    context: Record<string, unknown>,
  ): Promise<{ metric: string; previous: number }[]> {
    const now = this.clock.now();
    const names = metrics ?? Object.keys(this.policy.metrics).filter((m) => this.policy.metrics[m]!.kind === 'counter');
    const lines = names.map((m) => this.line(subject, m, now));
    for (const line of lines) if (line.kind !== 'counter') throw new EngineInputError(`"${line.metric}" is a gauge; only counters are reset`);
    const keys = [this.outboxOf(subject.id), ...lines.map((l) => l.usageKey)];
    const args: (string | number)[] = [now, subject.id, newId(), JSON.stringify(context), lines.length];
    for (const l of lines) args.push(l.metric, l.periodStart!, l.ttlMs);
    const reply = await this.withHydration(subject.id, lines, async () => decodeValues('reset', await this.scripts.run('reset', keys, args)));
    return lines.map((l, i) => ({ metric: l.metric, previous: this.okValues('reset', reply)[i]! }));
  }

  /** Add bonus credit. Re-granting an existing id changes nothing (`created: false`). */
  async grant(
    subject: SubjectRef,
    grant: { metric: string; amount: number; expiresAt: number | null; id?: string },
    context: Record<string, unknown>,
  ): Promise<{ id: string; balance: number; created: boolean }> {
    this.checkAmount(grant.amount);
    if (grant.amount < 1) throw new EngineInputError('a grant must be of at least 1 unit');
    const id = grant.id ?? newId();
    const line = this.line(subject, grant.metric, this.clock.now());
    const keys = [this.outboxOf(subject.id), line.grantsKey];
    const args = [this.clock.now(), subject.id, newId(), grant.metric, id, grant.amount, grant.expiresAt ?? 0, JSON.stringify(context)];
    const reply = await this.withHydration(subject.id, [line], async () => decodeValues('grant', await this.scripts.run('grant', keys, args)));
    if (reply.code !== ReplyCode.Ok && reply.code !== ReplyCode.Exists) throw new Error(`grant answered code ${reply.code}`);
    return { id, balance: reply.values[0]!, created: reply.code === ReplyCode.Ok };
  }

  async revokeGrant(
    subject: SubjectRef,
    metric: string,
    grantId: string,
    context: Record<string, unknown>,
  ): Promise<{ found: false } | { found: true; remaining: number; balance: number }> {
    const line = this.line(subject, metric, this.clock.now());
    const keys = [this.outboxOf(subject.id), line.grantsKey];
    const args = [this.clock.now(), subject.id, newId(), metric, grantId, JSON.stringify(context)];
    const reply = await this.withHydration(subject.id, [line], async () => decodeValues('revoke-grant', await this.scripts.run('revoke-grant', keys, args)));
    if (reply.code === ReplyCode.NotFound) return { found: false };
    const [remaining, balance] = this.okValues('revoke-grant', reply);
    return { found: true, remaining: remaining!, balance: balance! };
  }

  /** Manual correction of the current usage, up or down, never below 0. */
  async adjust(
    subject: SubjectRef,
    metric: string,
    delta: number,
    context: Record<string, unknown>,
  ): Promise<{ value: number; applied: number }> {
    if (!Number.isSafeInteger(delta) || Math.abs(delta) > MAX_AMOUNT) throw new EngineInputError(`delta must be a whole number within ±${MAX_AMOUNT}`);
    const now = this.clock.now();
    const line = this.line(subject, metric, now);
    const keys = [this.outboxOf(subject.id), line.usageKey];
    const args = [now, subject.id, newId(), metric, line.periodStart ?? '', delta, line.ttlMs, JSON.stringify(context)];
    const reply = await this.withHydration(subject.id, [line], async () => decodeValues('adjust', await this.scripts.run('adjust', keys, args)));
    const [value, applied] = this.okValues('adjust', reply);
    return { value: value!, applied: applied! };
  }

  /**
   * Every grant the subject holds in Redis (the live balances), earliest expiry first;
   * used-up, expired and revoked grants are gone from Redis and so are not listed.
   */
  async grantsOf(subject: SubjectRef): Promise<LiveGrant[]> {
    const metrics = Object.keys(this.policy.metrics);
    const read = () => Promise.all(metrics.map((m) => this.deps.redis.hgetall(this.keys.grants(subject.id, m))));
    let replies = await read();
    // A hydrated hash has its `_h` marker (lua/includes/grants.lua); a usage read rebuilds lost ones.
    if (replies.some((r) => r._h === undefined)) {
      await this.usage(subject);
      replies = await read();
    }
    const now = this.clock.now();
    const grants = metrics.flatMap((metric, i) =>
      Object.entries(replies[i]!)
        .filter(([id]) => id !== '_h')
        .map(([id, value]) => {
          const [remaining, expires] = value.split(':').map(Number);
          return { id, metric, remaining: remaining!, expiresAt: expires === 0 ? null : expires! };
        })
        .filter((g) => g.remaining > 0 && (g.expiresAt === null || g.expiresAt > now)),
    );
    return grants.sort((a, b) => (a.expiresAt ?? Infinity) - (b.expiresAt ?? Infinity) || a.id.localeCompare(b.id));
  }

  // ---------------------------------------------------------------------------------------

  private outboxOf(subjectId: string): string {
    return this.keys.outbox(this.keys.partitionOf(subjectId));
  }

  private line(subject: SubjectRef, metric: string, now: number): Line {
    const def = this.policy.metrics[metric];
    if (!def) throw new EngineInputError(`unknown metric "${metric}"`);
    const limit = limitOf(this.policy, subject, metric);
    if (def.kind === 'gauge') {
      return {
        metric,
        kind: 'gauge',
        limit,
        periodStart: null,
        periodEnd: null,
        usageKey: this.keys.gauge(subject.id, metric),
        grantsKey: this.keys.grants(subject.id, metric),
        ttlMs: 0,
      };
    }
    const period = this.periodOf(now, subject.anchor);
    return {
      metric,
      kind: 'counter',
      limit,
      periodStart: period.start,
      periodEnd: period.end,
      usageKey: this.keys.counter(subject.id, metric, period.start),
      grantsKey: this.keys.grants(subject.id, metric),
      ttlMs: this.counterTtl(period.end, now),
    };
  }

  /**
   * A counter lives until its period ends plus grace. Sent as a TTL, not an instant: Redis
   * counts it on its own clock, so a caller whose clock is off (or a test clock in another
   * month) can never write a key that Redis deletes at once.
   */
  private counterTtl(periodEnd: number, now: number): number {
    return Math.max(0, periodEnd - now) + this.options.counterGraceMs;
  }

  /**
   * A held line addresses the period it was charged in, which may no longer be current.
   * `anchor` (when the subject is known) gives that period's end for `resetsAt`.
   */
  private holdLine(subjectId: string, l: HoldLine, limit: number | null, anchor: number | null | undefined): Line {
    const counter = l.kind === 'counter';
    return {
      metric: l.metric,
      kind: l.kind,
      limit,
      periodStart: l.periodStart,
      periodEnd: counter && anchor !== undefined ? this.periodOf(l.periodStart!, anchor).end : null,
      usageKey: this.keys.usage(subjectId, l.metric, l.kind, l.periodStart ?? 0),
      grantsKey: this.keys.grants(subjectId, l.metric),
      // Only a hydration writes this; the exact period end needs the anchor, the bound does not.
      ttlMs: counter ? this.counterTtl(l.periodStart! + MAX_PERIOD_MS, this.clock.now()) : 0,
    };
  }

  /**
   * `periodAt`, remembering the last answer: nearly every decision falls in the same period
   * as the one before (calendar months for most subjects), and the periods of one anchor
   * never overlap, so a remembered period that holds `at` is the answer. periodAt's Date
   * arithmetic showed in profiles of the decision path.
   */
  private periodOf(at: number, anchor: number | null): Period {
    const last = this.lastPeriod;
    if (last !== undefined && last.anchor === anchor && at >= last.start && at < last.end) return last;
    const period = periodAt(at, anchor);
    this.lastPeriod = { ...period, anchor };
    return period;
  }

  private async endHold(
    script: 'settle' | 'release-hold',
    hold: HoldRef,
    lines: Line[],
    args: (string | number)[],
  ): Promise<HoldOutcome> {
    const k = this.keys;
    const partition = k.partitionOf(hold.subjectId);
    const keys = [
      k.outbox(partition),
      k.holdDeadlines(partition),
      k.hold(hold.subjectId, hold.id),
      k.concurrency(hold.subjectId),
      k.idempotency(hold.subjectId, hold.idempotencyKey ?? '-'),
      ...lines.flatMap((l) => [l.usageKey, l.grantsKey]),
    ];
    const reply = await this.withHydration(hold.subjectId, lines, async () => decodeHoldEnd(script, await this.scripts.run(script, keys, args)));
    switch (reply.code) {
      case ReplyCode.Ok:
        return { outcome: 'ended', metrics: this.usageOf(lines, reply.lines) };
      case ReplyCode.NotFound:
        return { outcome: 'not_found' };
      case ReplyCode.NotDue:
        return { outcome: 'not_due' };
    }
  }

  /**
   * Runs a script; when it answers "needs hydration", loads the missing usage and grants
   * from the ledger, writes them back where still missing, and runs it again.
   */
  private async withHydration<R extends { code: number }>(
    subjectId: string,
    lines: Line[],
    run: () => Promise<R | Missing>,
  ): Promise<Exclude<R, Missing>> {
    for (let attempt = 1; ; attempt++) {
      const reply = await run();
      if (reply.code !== ReplyCode.NeedsHydration) return reply as Exclude<R, Missing>;
      if (attempt >= MAX_HYDRATION_ATTEMPTS) throw new HydrationError(`keys of subject "${subjectId}" still missing after ${attempt} hydrations`);
      const missing = reply as Missing;
      await this.hydrate(subjectId, missing.usage.map((i) => lines[i]!), missing.grants.map((i) => lines[i]!));
    }
  }

  private async hydrate(subjectId: string, usage: Line[], grants: Line[]): Promise<void> {
    const data = await this.deps.hydrator.load({
      subjectId,
      usage: usage.map((l) => ({ metric: l.metric, kind: l.kind, periodStart: l.periodStart })),
      grants: grants.map((l) => l.metric),
    });
    const keys: string[] = [];
    const args: (string | number)[] = [usage.length + grants.length];
    usage.forEach((l, i) => {
      keys.push(l.usageKey);
      args.push('v', data.usage[i] ?? 0, l.ttlMs);
    });
    for (const l of grants) {
      keys.push(l.grantsKey);
      const fields = Object.fromEntries((data.grants[l.metric] ?? []).map((g) => [g.id, `${g.remaining}:${g.expiresAt ?? 0}`]));
      args.push('g', JSON.stringify(fields), 0);
    }
    decodeValues('hydrate', await this.scripts.run('hydrate', keys, args));
  }

  private usageOf(lines: readonly Line[], values: readonly { used: number; grants: number }[]): MetricUsage[] {
    return lines.map((line, i) => {
      const { used, grants } = values[i]!;
      const remaining = line.limit === null ? null : remainingUnits(line.kind, line.limit, used, grants);
      return {
        metric: line.metric,
        kind: line.kind,
        limit: line.limit,
        used,
        remaining,
        grantBalance: grants,
        periodStart: line.periodStart,
        resetsAt: line.periodEnd,
      };
    });
  }

  private okValues(script: ScriptName, reply: { code: number; values?: number[] }): number[] {
    if (reply.code !== ReplyCode.Ok || !reply.values) throw new Error(`${script} answered code ${reply.code}`);
    return reply.values;
  }

  private checkAmount(amount: number): void {
    if (!Number.isSafeInteger(amount) || amount < 0 || amount > MAX_AMOUNT) {
      throw new EngineInputError(`amount must be a whole number from 0 to ${MAX_AMOUNT}`);
    }
  }

  private checkCharges(charges: readonly Charge[]): void {
    const seen = new Set<string>();
    for (const charge of charges) {
      if (seen.has(charge.metric)) throw new EngineInputError(`metric "${charge.metric}" charged twice`);
      seen.add(charge.metric);
      this.checkAmount(charge.amount);
    }
  }
}
