import { newId } from '../lib/ids.js';
import { dueHolds, readHold as readStoredHold, type HoldEndReply } from '../redis/scripts/hold-record.js';
import { refundCall } from '../redis/scripts/refund.js';
import { ReplyCode, okValues } from '../redis/scripts/reply.js';
import { returnHoldCall, type ReturnKind } from '../redis/scripts/return-hold.js';
import { settleCall } from '../redis/scripts/settle.js';
import type { EngineContext } from './engine-context.js';
import { checkAmount, EngineInputError } from './errors.js';
import { limitOf } from './limits.js';
import { usageOf, type Line } from './metric-lines.js';
import type { HoldOutcome, HoldRef, RefundRef, SubjectRef } from './types.js';

/**
 * End a hold with actual amounts (metric → units). Lines not named keep their held amount;
 * `response` is stored with the idempotency record for replays.
 */
export async function settleHold(
  ctx: EngineContext,
  subject: SubjectRef,
  hold: HoldRef,
  actuals: Readonly<Record<string, number>>,
  response: string | undefined,
): Promise<HoldOutcome> {
  for (const [metric, amount] of Object.entries(actuals)) {
    if (!hold.lines.some((l) => l.metric === metric)) throw new EngineInputError(`hold ${hold.id} has no line for "${metric}"`);
    checkAmount(amount);
  }
  const lines = hold.lines.map((l) => ctx.lines.held(l, limitOf(ctx.policy, subject, l.metric), subject.anchor));
  const call = settleCall(ctx.keys, {
    now: ctx.clock.now(),
    eventId: newId(),
    hold,
    lines: lines.map((l) => ({ actual: actuals[l.metric], limit: l.limit })),
    idempotencyTtlMs: ctx.options.idempotencyTtlMs,
    response: response ?? '',
  });
  return holdOutcome(lines, await ctx.scripts.run(hold.subjectId, lines, () => call));
}

/** End a hold by giving everything back: `refund` (upstream failed), `release` (cancelled) or `expire`. */
export async function returnHold(ctx: EngineContext, subjectId: string, hold: HoldRef, kind: ReturnKind): Promise<HoldOutcome> {
  const lines = hold.lines.map((l) => ctx.lines.held(l, null, undefined));
  const call = returnHoldCall(ctx.keys, { now: ctx.clock.now(), eventId: newId(), hold: { ...hold, subjectId }, kind });
  return holdOutcome(lines, await ctx.scripts.run(subjectId, lines, () => call));
}

function holdOutcome(lines: readonly Line[], reply: Exclude<HoldEndReply, { code: typeof ReplyCode.NeedsHydration }>): HoldOutcome {
  switch (reply.code) {
    case ReplyCode.Ok:
      return { outcome: 'ended', metrics: usageOf(lines, reply.lines) };
    case ReplyCode.NotFound:
      return { outcome: 'not_found' };
    case ReplyCode.NotDue:
      return { outcome: 'not_due' };
  }
}

/**
 * Give back a charge consumed outright with `refundTtlMs` (the upstream failed): one
 * `refund` event per line. At most once per request: a repeat answers `not_found`.
 */
export async function refundCharge(ctx: EngineContext, ref: RefundRef): Promise<'refunded' | 'not_found'> {
  const lines = ref.lines.map((l) => ctx.lines.held(l, null, undefined));
  const call = refundCall(ctx.keys, { now: ctx.clock.now(), subjectId: ref.subjectId, requestId: ref.requestId, lines: ref.lines, ttlMs: ref.ttlMs, context: ref.context });
  const reply = await ctx.scripts.run(ref.subjectId, lines, () => call);
  if (reply.code === ReplyCode.NotFound) return 'not_found';
  okValues('refund', reply);
  return 'refunded';
}

/** Reads a hold by id (for settle or return by a later API call); null when it has ended. */
export async function readHold(ctx: EngineContext, subjectId: string, holdId: string): Promise<HoldRef | null> {
  const stored = await readStoredHold(ctx.redis, ctx.keys, subjectId, holdId);
  return stored && { id: holdId, subjectId, ...stored };
}

/** Returns every hold of a partition whose deadline has passed (`expire` events); returns how many. */
export async function expireHolds(ctx: EngineContext, partition: number, batch: number): Promise<number> {
  let expired = 0;
  for (const { subjectId, holdId } of await dueHolds(ctx.redis, ctx.keys, partition, ctx.clock.now(), batch)) {
    // A hold already gone leaves a stale deadline entry, which return-hold removes.
    const hold = (await readHold(ctx, subjectId, holdId)) ?? { id: holdId, subjectId, idempotencyKey: null, lines: [] };
    const outcome = await returnHold(ctx, subjectId, hold, 'expire');
    if (outcome.outcome === 'ended') expired++;
  }
  return expired;
}
