import type { MetricKind } from '../../config/policy.js';
import type { KeySchema } from '../keys.js';
import type { ScriptCall } from './registry.js';
import { array, ints, missing, pairs, ReplyCode, ScriptReplyError, type LineUsage, type Missing } from './reply.js';

/** One metric a request costs (or only reads, with amount 0), as lua/consume.lua takes it. */
export interface ConsumeLine {
  metric: string;
  kind: MetricKind;
  /** Period start (ms) for counters; null for gauges. */
  periodStart: number | null;
  /** null = unlimited. */
  limit: number | null;
  amount: number;
  /** How long the usage key lives from now, on Redis's clock (ms); 0 = never. */
  ttlMs: number;
  /** Keep the line in the request's hold, to be settled or returned later. */
  held: boolean;
  /**
   * A window of the metric (minute, hour, day) rather than its billing period: checked and
   * consumed with the others, but never held, ledgered or hydrated (a missing key is an empty
   * window). `periodStart` stays the billing period's, for the denial event.
   */
  window?: { name: string; start: number } | undefined;
}

/** Everything lua/consume.lua decides with, named as its header documents. */
export interface ConsumeRequest {
  now: number;
  subjectId: string;
  /** Event ids are `<requestId>:<n>`; also the hold and lease id. */
  requestId: string;
  /** `peek` decides and writes nothing; `shadow` applies but never denies. */
  mode: 'apply' | 'peek' | 'shadow';
  /** The request rate, in the bucket of one rate class; null = none. */
  rate: { bucket: string; intervalMs: number; burst: number } | null;
  denialTallyTtlMs: number;
  lines: readonly ConsumeLine[];
  /** The plan's concurrency limit; 0 = take no lease. */
  concurrency: number;
  /** 0 = no hold. */
  holdTtlMs: number;
  idempotency: { key: string; fingerprint: string; ttlMs: number } | null;
  /** 0 = no refund record (only without a hold). */
  refundTtlMs: number;
  /** How long the decision can still be voided by its request id (lua/void.lua); 0 = never. */
  voidTtlMs: number;
  /** The event context, JSON: stored verbatim with every event and the hold. */
  context: string;
}

/** The argument lua/consume.lua decodes as `request`: one field per member of its header. */
interface WireRequest {
  now: number;
  subject: string;
  id: string;
  mode: ConsumeRequest['mode'];
  rate?: { interval: number; burst: number };
  denial_ttl: number;
  metrics: { name: string; kind: 'c' | 'g'; period: string; limit: number; amount: number; ttl: number; held?: true; window?: string }[];
  concurrency: number;
  hold_ttl: number;
  idempotency?: { key: string; fingerprint: string; ttl: number };
  refund_ttl: number;
  void_ttl: number;
}

/**
 * The consume call for `request`. `answerBy` is the Redis time (ms) after which the script
 * refuses to apply it (0 = never): it counts from when the call is sent, so each attempt
 * builds its own call.
 */
export function consumeCall(keys: KeySchema, request: ConsumeRequest, answerBy: number): ScriptCall<ConsumeReply> {
  const { subjectId, requestId, now } = request;
  const partition = keys.partitionOf(subjectId);
  const wire: WireRequest = {
    now,
    subject: subjectId,
    id: requestId,
    mode: request.mode,
    rate: request.rate ? { interval: request.rate.intervalMs, burst: request.rate.burst } : undefined,
    denial_ttl: request.denialTallyTtlMs,
    metrics: request.lines.map((l) => ({
      name: l.metric,
      kind: l.kind === 'counter' ? 'c' : 'g',
      period: l.periodStart === null ? '' : String(l.periodStart),
      limit: l.limit ?? -1,
      amount: l.amount,
      ttl: l.ttlMs,
      held: l.held || undefined,
      window: l.window?.name,
    })),
    concurrency: request.concurrency,
    hold_ttl: request.holdTtlMs,
    idempotency: request.idempotency ? { key: request.idempotency.key, fingerprint: request.idempotency.fingerprint, ttl: request.idempotency.ttlMs } : undefined,
    refund_ttl: request.refundTtlMs,
    void_ttl: request.voidTtlMs,
  };
  const held = request.holdTtlMs > 0;
  const unused = keys.unused(partition);
  const callKeys = [
    keys.outbox(partition),
    keys.denials(partition, now - (now % 60_000)),
    keys.rate(subjectId, request.rate?.bucket ?? '-'),
    held ? keys.holdDeadlines(partition) : unused,
    request.concurrency > 0 ? keys.concurrency(subjectId) : unused,
    request.idempotency ? keys.idempotency(subjectId, request.idempotency.key) : unused,
    held ? keys.hold(subjectId, requestId) : unused,
    request.refundTtlMs > 0 || request.voidTtlMs > 0 ? keys.refund(subjectId, requestId) : unused,
  ];
  for (const l of request.lines) {
    if (l.window) callKeys.push(keys.window(subjectId, l.metric, l.window.name, l.window.start), unused);
    else callKeys.push(keys.usage(subjectId, l.metric, l.kind, l.periodStart ?? 0), keys.grants(subjectId, l.metric));
  }
  return {
    script: 'consume',
    keys: callKeys,
    args: [JSON.stringify(wire), request.context, answerBy],
    decode: decodeConsume,
  };
}

export interface Decided {
  code: typeof ReplyCode.Ok | typeof ReplyCode.DeniedQuota | typeof ReplyCode.DeniedRate | typeof ReplyCode.DeniedConcurrency;
  /** Denied metric (1-based) for a quota denial; in shadow mode, what would have denied: i, -1 (rate), -2 (concurrency). */
  flag: number;
  rateRemaining: number;
  rateResetMs: number;
  rateRetryMs: number;
  leases: number;
  /** Per line, in request order. */
  metrics: LineUsage[];
}

export type ConsumeReply =
  | Decided
  | Missing
  | { code: typeof ReplyCode.Replayed; original: Decided; response: string | null; requestId: string }
  | { code: typeof ReplyCode.IdempotencyMismatch | typeof ReplyCode.IdempotencyInFlight | typeof ReplyCode.Expired };

function decided(script: string, raw: unknown[], code: Decided['code']): Decided {
  const header = ints(script, raw.slice(0, 6), 1);
  return {
    code,
    flag: header[0]!,
    rateRemaining: header[1]!,
    rateResetMs: header[2]!,
    rateRetryMs: header[3]!,
    leases: header[4]!,
    metrics: pairs(script, raw, 6),
  };
}

/** lua/consume.lua's reply (see its header). */
export function decodeConsume(raw: unknown): ConsumeReply {
  const script = 'consume';
  const reply = array(script, raw, 1);
  const code = reply[0];
  switch (code) {
    case ReplyCode.Ok:
    case ReplyCode.DeniedQuota:
    case ReplyCode.DeniedRate:
    case ReplyCode.DeniedConcurrency:
      array(script, raw, 6);
      return decided(script, reply, code);
    case ReplyCode.NeedsHydration:
      return missing(script, reply);
    case ReplyCode.Replayed: {
      const [, stored, response, requestId] = array(script, raw, 4);
      if (typeof stored !== 'string' || typeof response !== 'string' || typeof requestId !== 'string') {
        throw new ScriptReplyError(script, 'bad replay', raw);
      }
      const original = decodeConsume(JSON.parse(stored));
      if (original.code !== ReplyCode.Ok) throw new ScriptReplyError(script, 'stored decision is not an allowed one', raw);
      return { code, original, response: response === '' ? null : response, requestId };
    }
    case ReplyCode.IdempotencyMismatch:
    case ReplyCode.IdempotencyInFlight:
    case ReplyCode.Expired:
      return { code };
    default:
      throw new ScriptReplyError(script, `unknown code ${String(code)}`, raw);
  }
}
