/**
 * What every script reply shares: the codes (each script's header lists the ones it
 * answers), the checks of a reply's shape, and the "needs hydration" and plain-values replies
 * several scripts give. Each script's own reply is decoded in its module beside this file.
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
  NotApplied: 13,
} as const;
export type ReplyCode = (typeof ReplyCode)[keyof typeof ReplyCode];

/** A reply that does not have the shape its script documents: a bug, never a user error. */
export class ScriptReplyError extends Error {
  constructor(script: string, detail: string, raw: unknown) {
    super(`unexpected reply from ${script}: ${detail} (${JSON.stringify(raw)?.slice(0, 200)})`);
    this.name = 'ScriptReplyError';
  }
}

export function array(script: string, raw: unknown, minLength: number): unknown[] {
  if (!Array.isArray(raw) || raw.length < minLength) throw new ScriptReplyError(script, `expected an array of ≥ ${minLength}`, raw);
  return raw;
}

function int(script: string, raw: unknown, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new ScriptReplyError(script, 'expected an integer', raw);
  return value;
}

export function ints(script: string, raw: unknown[], from: number): number[] {
  const out = new Array<number>(raw.length - from);
  for (let i = from; i < raw.length; i++) out[i - from] = int(script, raw, raw[i]);
  return out;
}

/** A metric's usage and usable grant balance, as the scripts reply them per line. */
export interface LineUsage {
  used: number;
  grants: number;
}

export function pairs(script: string, raw: unknown[], from: number): LineUsage[] {
  const values = ints(script, raw, from);
  if (values.length % 2 !== 0) throw new ScriptReplyError(script, 'expected (used, grants) pairs', raw);
  const out: LineUsage[] = [];
  for (let i = 0; i < values.length; i += 2) out.push({ used: values[i]!, grants: values[i + 1]! });
  return out;
}

/** Keys a script found missing: `i` for line/metric i's usage key, `-i` for its grants key. */
export interface Missing {
  code: typeof ReplyCode.NeedsHydration;
  /** 0-based indexes of the lines whose usage key is missing. */
  usage: number[];
  /** 0-based indexes of the lines whose grants hash is missing. */
  grants: number[];
}

export function missing(script: string, raw: unknown[]): Missing {
  const indexes = ints(script, raw, 1);
  if (indexes.length === 0 || indexes.includes(0)) throw new ScriptReplyError(script, 'bad hydration indexes', raw);
  return {
    code: ReplyCode.NeedsHydration,
    usage: indexes.filter((i) => i > 0).map((i) => i - 1),
    grants: indexes.filter((i) => i < 0).map((i) => -i - 1),
  };
}

/**
 * Scripts answering `{1, n...}`, `{5, ...}` or one of a few bare codes:
 * release, reset, grant, revoke-grant, adjust, hydrate, refund, repair.
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

/** The values of a `{1, ...}` reply; any other code is a bug of the caller. */
export function okValues(script: string, reply: ValuesReply): number[] {
  if (reply.code !== ReplyCode.Ok) throw new Error(`${script} answered code ${reply.code}`);
  return reply.values;
}
