import { newId } from '../lib/ids.js';
import { adjustCall } from '../redis/scripts/adjust.js';
import { grantCall } from '../redis/scripts/grant.js';
import { releaseCall } from '../redis/scripts/release.js';
import { okValues, ReplyCode } from '../redis/scripts/reply.js';
import { resetCall } from '../redis/scripts/reset.js';
import { revokeGrantCall } from '../redis/scripts/revoke-grant.js';
import type { EngineContext } from './engine-context.js';
import { checkAmount, EngineInputError, MAX_AMOUNT } from './errors.js';
import type { SubjectRef } from './types.js';

/** Lower a gauge (never below 0; never needs quota). */
export async function release(
  ctx: EngineContext,
  subject: SubjectRef,
  metric: string,
  amount: number,
  options: { idempotency?: { key: string; fingerprint: string }; context?: Record<string, unknown> },
): Promise<{ outcome: 'released' | 'replayed'; level: number; released: number } | { outcome: 'idempotency_mismatch' | 'idempotency_in_flight' }> {
  checkAmount(amount);
  const now = ctx.clock.now();
  const line = ctx.lines.current(subject, metric, now);
  if (line.kind !== 'gauge') throw new EngineInputError(`"${metric}" is a counter; only gauges are released`);
  const { idempotency, context } = options;
  const eventContext = idempotency ? { ...context, idempotency_key: idempotency.key } : (context ?? {});
  const call = releaseCall(ctx.keys, {
    now,
    subjectId: subject.id,
    eventId: newId(),
    metric,
    amount,
    context: JSON.stringify(eventContext),
    idempotency: idempotency ? { ...idempotency, ttlMs: ctx.options.idempotencyTtlMs } : null,
  });
  const reply = await ctx.scripts.run(subject.id, [line], () => call);
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
export async function reset(
  ctx: EngineContext,
  subject: SubjectRef,
  metrics: readonly string[] | undefined,
  context: Record<string, unknown>,
): Promise<{ metric: string; previous: number }[]> {
  const now = ctx.clock.now();
  const names = metrics ?? Object.keys(ctx.policy.metrics).filter((m) => ctx.policy.metrics[m]!.kind === 'counter');
  const lines = names.map((m) => ctx.lines.current(subject, m, now));
  for (const line of lines) if (line.kind !== 'counter') throw new EngineInputError(`"${line.metric}" is a gauge; only counters are reset`);
  const call = resetCall(ctx.keys, {
    now,
    subjectId: subject.id,
    eventId: newId(),
    counters: lines.map((l) => ({ metric: l.metric, periodStart: l.periodStart!, ttlMs: l.ttlMs })),
    context: JSON.stringify(context),
  });
  const previous = okValues('reset', await ctx.scripts.run(subject.id, lines, () => call));
  return lines.map((l, i) => ({ metric: l.metric, previous: previous[i]! }));
}

/** Add bonus credit. Re-granting an existing id changes nothing (`created: false`). */
export async function grant(
  ctx: EngineContext,
  subject: SubjectRef,
  grant: { metric: string; amount: number; expiresAt: number | null; id?: string },
  context: Record<string, unknown>,
): Promise<{ id: string; balance: number; created: boolean }> {
  checkAmount(grant.amount);
  if (grant.amount < 1) throw new EngineInputError('a grant must be of at least 1 unit');
  const id = grant.id ?? newId();
  const now = ctx.clock.now();
  const line = ctx.lines.current(subject, grant.metric, now);
  const call = grantCall(ctx.keys, {
    now,
    subjectId: subject.id,
    eventId: newId(),
    metric: grant.metric,
    grant: { id, remaining: grant.amount, expiresAt: grant.expiresAt },
    context: JSON.stringify(context),
  });
  const reply = await ctx.scripts.run(subject.id, [line], () => call);
  if (reply.code !== ReplyCode.Ok && reply.code !== ReplyCode.Exists) throw new Error(`grant answered code ${reply.code}`);
  return { id, balance: reply.values[0]!, created: reply.code === ReplyCode.Ok };
}

export async function revokeGrant(
  ctx: EngineContext,
  subject: SubjectRef,
  metric: string,
  grantId: string,
  context: Record<string, unknown>,
): Promise<{ found: false } | { found: true; remaining: number; balance: number }> {
  const now = ctx.clock.now();
  const line = ctx.lines.current(subject, metric, now);
  const call = revokeGrantCall(ctx.keys, { now, subjectId: subject.id, eventId: newId(), metric, grantId, context: JSON.stringify(context) });
  const reply = await ctx.scripts.run(subject.id, [line], () => call);
  if (reply.code === ReplyCode.NotFound) return { found: false };
  const [remaining, balance] = okValues('revoke-grant', reply);
  return { found: true, remaining: remaining!, balance: balance! };
}

/** Manual correction of the current usage, up or down, never below 0. */
export async function adjust(
  ctx: EngineContext,
  subject: SubjectRef,
  metric: string,
  delta: number,
  context: Record<string, unknown>,
): Promise<{ value: number; applied: number }> {
  if (!Number.isSafeInteger(delta) || Math.abs(delta) > MAX_AMOUNT) throw new EngineInputError(`delta must be a whole number within ±${MAX_AMOUNT}`);
  const now = ctx.clock.now();
  const line = ctx.lines.current(subject, metric, now);
  const call = adjustCall(ctx.keys, { now, subjectId: subject.id, eventId: newId(), ...line, delta, context: JSON.stringify(context) });
  const [value, applied] = okValues('adjust', await ctx.scripts.run(subject.id, [line], () => call));
  return { value: value!, applied: applied! };
}
