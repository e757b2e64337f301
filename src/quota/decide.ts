import { newId } from '../lib/ids.js';
import { consumeCall, type ConsumeRequest, type Decided } from '../redis/scripts/consume.js';
import { ReplyCode } from '../redis/scripts/reply.js';
import type { EngineContext } from './engine-context.js';
import { checkAmount, DecisionExpiredError, EngineInputError } from './errors.js';
import { planOf } from './limits.js';
import { usageOf, type Line } from './metric-lines.js';
import type { LineUsage } from '../redis/scripts/reply.js';
import type { Allowed, Charge, Decision, HoldLine, HoldRef, MetricUsage, RateState, RefundRef, SubjectRef } from './types.js';
import { windowConsumeLine, windowLines, windowUsage, type WindowLine } from './windows.js';

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
   * For requests whose replay would do work again (a proxied request, a reservation): a
   * replay of a key whose first request stored no response (streamed, too large, settled
   * without one) is decided and charged as a new request, never handed out free.
   */
  chargeUnstoredReplays?: boolean;
  /**
   * Keep a hold for this long (ms): held lines, the lease and an in-flight idempotency
   * record wait for settle or return. Defaults to the hold TTL when anything is held.
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

/** Decide (and unless peeking, apply) a request: policy → one consume call → a Decision. */
export async function decide(ctx: EngineContext, input: ConsumeInput, mode: ConsumeRequest['mode']): Promise<Decision> {
  const { subject, charges } = input;
  checkCharges(charges);
  const now = ctx.clock.now();
  const plan = planOf(ctx.policy, subject);
  const requestId = input.requestId ?? newId();
  const lines = charges.map((c) => ctx.lines.current(subject, c.metric, now));
  const windows = windowLines(ctx.policy, subject, lines, now);
  const rate = input.rateClass !== undefined && plan.rate ? plan.rate : null;
  const concurrency = input.concurrency && plan.concurrency ? plan.concurrency : 0;
  const held = charges.some((c) => c.held) || concurrency > 0;
  const holdTtlMs = input.holdTtlMs ?? (held ? ctx.options.holdTtlMs : 0);
  if (held && holdTtlMs <= 0) throw new EngineInputError('held charges and leases need a hold TTL > 0');
  const idem = input.idempotency;
  const refundTtlMs = mode === 'peek' ? 0 : (input.refundTtlMs ?? 0);
  if (refundTtlMs > 0 && (holdTtlMs > 0 || idem)) throw new EngineInputError('a refundable charge without a hold cannot also hold or carry an idempotency key');
  // Events carry the key, so the ledger can spot a key charged twice after Redis lost it.
  const context = JSON.stringify(idem ? { ...input.context, idempotency_key: idem.key } : (input.context ?? {}));

  const request: ConsumeRequest = {
    now,
    subjectId: subject.id,
    requestId,
    mode,
    rate: rate && { bucket: input.rateClass!, intervalMs: 1000 / rate.rps, burst: rate.burst },
    denialTallyTtlMs: ctx.options.denialTallyTtlMs,
    // Windows after every metric: the script's metric i is still charge i (hydration, refunds).
    lines: [
      ...lines.map((l, i) => ({
        metric: l.metric,
        kind: l.kind,
        periodStart: l.periodStart,
        limit: l.limit,
        ttlMs: l.ttlMs,
        amount: charges[i]!.amount,
        held: charges[i]!.held === true,
      })),
      ...windows.map((w) => windowConsumeLine(w, lines[w.of]!, charges[w.of]!.amount, now)),
    ],
    concurrency,
    holdTtlMs,
    idempotency: idem ? { ...idem, ttlMs: ctx.options.idempotencyTtlMs } : null,
    refundTtlMs,
    voidTtlMs: mode === 'peek' ? 0 : ctx.options.voidWindowMs,
    context,
  };
  let reply;
  try {
    reply = await ctx.scripts.run(subject.id, lines, () => consumeCall(ctx.keys, request, answerBy(ctx, mode)));
  } catch (err) {
    // The reply never came (timeout, broken connection, a bad reply): the caller will answer
    // "not charged", so whatever the script may have applied is given back first.
    if (request.voidTtlMs > 0) await ctx.voids.void(request, lines);
    throw err;
  }

  const metricsOf = (r: Decided) => withWindows(usageOf(lines, r.metrics), windows, r.metrics.slice(lines.length));
  const rateState = (r: Decided): RateState | null => rate && { limit: rate.burst, rps: rate.rps, remaining: r.rateRemaining, resetMs: r.rateResetMs };
  const lineOf = (c: Charge, i: number): HoldLine => ({ metric: c.metric, kind: lines[i]!.kind, periodStart: lines[i]!.periodStart, amount: c.amount });
  const allowed = (r: Decided, id: string, hold: HoldRef | null, refund: RefundRef | null): Allowed => ({
    outcome: 'allowed',
    requestId: id,
    metrics: metricsOf(r),
    rate: rateState(r),
    concurrency: concurrency > 0 ? { limit: concurrency, inUse: r.leases } : null,
    hold,
    refund,
    wouldDeny: wouldDeny(r.flag, lines, windows),
  });

  switch (reply.code) {
    case ReplyCode.Ok: {
      const hold: HoldRef | null =
        mode !== 'peek' && holdTtlMs > 0
          ? { id: requestId, subjectId: subject.id, idempotencyKey: idem?.key ?? null, lines: charges.flatMap((c, i) => (c.held ? [lineOf(c, i)] : [])) }
          : null;
      // No line is held here (a hold and a refund TTL exclude each other): line j is metric j of the script.
      const refund = refundTtlMs > 0 ? { requestId, subjectId: subject.id, lines: charges.map(lineOf), context, ttlMs: refundTtlMs } : null;
      return allowed(reply, requestId, hold, refund);
    }
    case ReplyCode.DeniedQuota: {
      const metrics = metricsOf(reply);
      const at = reply.flag - 1;
      const window = at >= lines.length ? windows[at - lines.length]! : undefined;
      const of = window ? window.of : at;
      return {
        outcome: 'denied',
        reason: 'quota',
        metric: lines[of]!.metric,
        ...(window && { window: metrics[of]!.windows!.find((w) => w.window === window.window)! }),
        requested: charges[of]!.amount,
        metrics,
        rate: rateState(reply),
      };
    }
    case ReplyCode.DeniedRate:
      return { outcome: 'denied', reason: 'rate', retryAfterMs: reply.rateRetryMs, rate: { limit: rate!.burst, rps: rate!.rps, remaining: 0, resetMs: reply.rateResetMs } };
    case ReplyCode.DeniedConcurrency:
      return { outcome: 'denied', reason: 'concurrency', limit: concurrency, inUse: reply.leases, rate: rateState(reply) };
    case ReplyCode.Replayed:
      if (reply.response === null && input.chargeUnstoredReplays) {
        // Nothing was applied under this request id: it is decided again, without the key.
        return decide(ctx, { ...input, idempotency: undefined, chargeUnstoredReplays: false, context: { ...input.context, replay_of_key: idem!.key } }, mode);
      }
      return { outcome: 'replayed', original: allowed(reply.original, reply.requestId, null, null), response: reply.response };
    case ReplyCode.IdempotencyMismatch:
      return { outcome: 'idempotency_mismatch' };
    case ReplyCode.IdempotencyInFlight:
      return { outcome: 'idempotency_in_flight' };
    case ReplyCode.Expired:
      throw new DecisionExpiredError(`the decision reached Redis more than ${ctx.options.decisionTimeoutMs} ms after it was sent; nothing was applied`);
  }
}

/**
 * The Redis time after which this attempt must not be applied (0 = none): its caller stops
 * waiting `decisionTimeoutMs` after sending it. A peek applies nothing, so it has none.
 */
function answerBy(ctx: EngineContext, mode: ConsumeRequest['mode']): number {
  const redisNow = mode === 'peek' || ctx.options.decisionTimeoutMs === 0 ? null : (ctx.redisTime?.now() ?? null);
  return redisNow === null ? 0 : Math.ceil(redisNow + ctx.options.decisionTimeoutMs);
}

/** The shadow-mode flag: 0 none, -1 rate, -2 concurrency, i metric i (1-based; past the metrics, a window). */
function wouldDeny(flag: number, lines: readonly Line[], windows: readonly WindowLine[]): Allowed['wouldDeny'] {
  if (flag === 0) return null;
  if (flag === -1) return { reason: 'rate' };
  if (flag === -2) return { reason: 'concurrency' };
  const line = flag <= lines.length ? lines[flag - 1]! : lines[windows[flag - 1 - lines.length]!.of]!;
  return { reason: 'quota', metric: line.metric };
}

/** Each metric's usage with its windows' (`values`: the windows' part of the reply, in window order). */
function withWindows(metrics: MetricUsage[], windows: readonly WindowLine[], values: readonly LineUsage[]): MetricUsage[] {
  windows.forEach((w, k) => (metrics[w.of]!.windows ??= []).push(windowUsage(w, values[k]!)));
  return metrics;
}

function checkCharges(charges: readonly Charge[]): void {
  const seen = new Set<string>();
  for (const charge of charges) {
    if (seen.has(charge.metric)) throw new EngineInputError(`metric "${charge.metric}" charged twice`);
    seen.add(charge.metric);
    checkAmount(charge.amount);
  }
}
