/**
 * Every script reply is decoded and checked here, and only here. The codes are shared by
 * all scripts in `lua/` (each script's header lists the ones it answers).
 */
export const ReplyCode = {
  Ok: 1,
  DeniedQuota: 2,
  DeniedRate: 3,
  DeniedConcurrency: 4,
  NeedsHydration: 5,
  Replayed: 6,
  IdempotencyMismatch: 7,
  IdempotencyInFlight: 8,
  NotFound: 9,
  NotDue: 10,
  Exists: 11,
  Expired: 12,
} as const;
export type ReplyCode = (typeof ReplyCode)[keyof typeof ReplyCode];

/** A reply that does not have the shape its script documents: a bug, never a user error. */
export class ScriptReplyError extends Error {
  constructor(script: string, detail: string, raw: unknown) {
    super(`unexpected reply from ${script}: ${detail} (${JSON.stringify(raw)?.slice(0, 200)})`);
    this.name = 'ScriptReplyError';
  }
}

function array(script: string, raw: unknown, minLength: number): unknown[] {
  if (!Array.isArray(raw) || raw.length < minLength) throw new ScriptReplyError(script, `expected an array of ≥ ${minLength}`, raw);
  return raw;
}

function int(script: string, raw: unknown, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new ScriptReplyError(script, 'expected an integer', raw);
  return value;
}

function ints(script: string, raw: unknown[], from: number): number[] {
  const out = new Array<number>(raw.length - from);
  for (let i = from; i < raw.length; i++) out[i - from] = int(script, raw, raw[i]);
  return out;
}

function pairs(script: string, raw: unknown[], from: number): { used: number; grants: number }[] {
  const values = ints(script, raw, from);
  if (values.length % 2 !== 0) throw new ScriptReplyError(script, 'expected (used, grants) pairs', raw);
  const out: { used: number; grants: number }[] = [];
  for (let i = 0; i < values.length; i += 2) out.push({ used: values[i]!, grants: values[i + 1]! });
  return out;
}

/** Keys a script found missing: `i` for line/metric i's usage key, `-i` for its grants key. */
export interface Missing {
  code: typeof ReplyCode.NeedsHydration;
  usage: number[];
  grants: number[];
}

function missing(script: string, raw: unknown[]): Missing {
  const indexes = ints(script, raw, 1);
  if (indexes.length === 0 || indexes.includes(0)) throw new ScriptReplyError(script, 'bad hydration indexes', raw);
  return {
    code: ReplyCode.NeedsHydration,
    usage: indexes.filter((i) => i > 0).map((i) => i - 1),
    grants: indexes.filter((i) => i < 0).map((i) => -i - 1),
  };
}

export interface Decided {
  code: typeof ReplyCode.Ok | typeof ReplyCode.DeniedQuota | typeof ReplyCode.DeniedRate | typeof ReplyCode.DeniedConcurrency;
  /** Denied metric index (0-based) for a quota denial; in shadow mode, what would have denied. */
  flag: number;
  rateRemaining: number;
  rateResetMs: number;
  rateRetryMs: number;
  leases: number;
  metrics: { used: number; grants: number }[];
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

/** lua/consume.lua (also release.lua's idempotency replies). */
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

export type HoldEndReply =
  | { code: typeof ReplyCode.Ok; lines: { used: number; grants: number }[] }
  | Missing
  | { code: typeof ReplyCode.NotFound | typeof ReplyCode.NotDue };

/** lua/settle.lua and lua/release-hold.lua. */
export function decodeHoldEnd(script: 'settle' | 'release-hold', raw: unknown): HoldEndReply {
  const reply = array(script, raw, 1);
  const code = reply[0];
  switch (code) {
    case ReplyCode.Ok:
      return { code, lines: pairs(script, reply, 1) };
    case ReplyCode.NeedsHydration:
      return missing(script, reply);
    case ReplyCode.NotFound:
    case ReplyCode.NotDue:
      return { code };
    default:
      throw new ScriptReplyError(script, `unknown code ${String(code)}`, raw);
  }
}

/**
 * Scripts answering `{1, n...}`, `{5, ...}` or one of a few bare codes:
 * release, reset, grant, revoke-grant, adjust, hydrate.
 */
export type ValuesReply =
  | { code: typeof ReplyCode.Ok | typeof ReplyCode.NotFound | typeof ReplyCode.Exists; values: number[] }
  | Missing
  | { code: typeof ReplyCode.Replayed; values: number[] }
  | { code: typeof ReplyCode.IdempotencyMismatch | typeof ReplyCode.IdempotencyInFlight };

export function decodeValues(script: string, raw: unknown): ValuesReply {
  const reply = array(script, raw, 1);
  const code = reply[0];
  switch (code) {
    case ReplyCode.Ok:
    case ReplyCode.NotFound:
    case ReplyCode.Exists:
      return { code, values: ints(script, reply, 1) };
    case ReplyCode.NeedsHydration:
      return missing(script, reply);
    case ReplyCode.Replayed: {
      const stored = reply[1];
      if (typeof stored !== 'string') throw new ScriptReplyError(script, 'bad replay', raw);
      const original = decodeValues(script, JSON.parse(stored));
      if (original.code !== ReplyCode.Ok) throw new ScriptReplyError(script, 'stored reply is not a success', raw);
      return { code, values: original.values };
    }
    case ReplyCode.IdempotencyMismatch:
    case ReplyCode.IdempotencyInFlight:
      return { code };
    default:
      throw new ScriptReplyError(script, `unknown code ${String(code)}`, raw);
  }
}

export interface Snapshot {
  /** The outbox's last generated entry id when the values were read ('0-0': no stream). */
  watermark: string;
  /** Per usage key asked for: its value, or null when missing. */
  values: (number | null)[];
}

/** lua/snapshot.lua. */
export function decodeSnapshot(raw: unknown): Snapshot {
  const script = 'snapshot';
  const reply = array(script, raw, 2);
  const watermark = reply[1];
  if (reply[0] !== ReplyCode.Ok || typeof watermark !== 'string' || !/^\d+-\d+$/.test(watermark)) throw new ScriptReplyError(script, 'bad header', raw);
  return { watermark, values: ints(script, reply, 2).map((v) => (v < 0 ? null : v)) };
}
