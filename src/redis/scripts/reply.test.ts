import { describe, expect, it } from 'vitest';
import { decodeConsume } from './consume.js';
import { decodeHoldEnd } from './hold-record.js';
import { decodeValues, ReplyCode, ScriptReplyError } from './reply.js';
import { decodeSnapshot } from './snapshot.js';

describe('decodeConsume', () => {
  it('decodes an allowed decision with per-metric pairs', () => {
    expect(decodeConsume([1, 0, 9, 100, 0, 1, 5, 0, 300, 20])).toEqual({
      code: ReplyCode.Ok,
      flag: 0,
      rateRemaining: 9,
      rateResetMs: 100,
      rateRetryMs: 0,
      leases: 1,
      metrics: [
        { used: 5, grants: 0 },
        { used: 300, grants: 20 },
      ],
    });
  });

  it('decodes the bare codes: mismatch, in flight, expired', () => {
    expect(decodeConsume([7])).toEqual({ code: ReplyCode.IdempotencyMismatch });
    expect(decodeConsume([8])).toEqual({ code: ReplyCode.IdempotencyInFlight });
    expect(decodeConsume([12])).toEqual({ code: ReplyCode.Expired });
  });

  it('splits hydration indexes into usage and grants (0-based)', () => {
    expect(decodeConsume([5, 1, -1, 3])).toEqual({ code: ReplyCode.NeedsHydration, usage: [0, 2], grants: [0] });
  });

  it('decodes a replay from the stored reply', () => {
    const r = decodeConsume([6, JSON.stringify([1, 0, 0, 0, 0, 0, 3, 0]), '', 'req-1']);
    expect(r).toMatchObject({ code: ReplyCode.Replayed, requestId: 'req-1', response: null, original: { metrics: [{ used: 3, grants: 0 }] } });
  });

  it.each([
    ['not an array', 'nope'],
    ['empty', []],
    ['unknown code', [42]],
    ['a float', [1, 0, 0, 0, 0, 0, 1.5, 0]],
    ['an odd number of metric values', [1, 0, 0, 0, 0, 0, 1]],
    ['a short header', [1, 0, 0]],
    ['a replay of a denial', [6, JSON.stringify([2, 1, 0, 0, 0, 0, 3, 0]), '', 'r']],
    ['hydration without indexes', [5]],
  ])('rejects %s', (_, raw) => {
    expect(() => decodeConsume(raw)).toThrow(ScriptReplyError);
  });
});

describe('decodeHoldEnd and decodeValues', () => {
  it('decode each documented code', () => {
    expect(decodeHoldEnd('settle', [1, 5, 0])).toEqual({ code: ReplyCode.Ok, lines: [{ used: 5, grants: 0 }] });
    expect(decodeHoldEnd('return-hold', [9])).toEqual({ code: ReplyCode.NotFound });
    expect(decodeHoldEnd('return-hold', [10])).toEqual({ code: ReplyCode.NotDue });
    expect(decodeValues('grant', [11, 4])).toEqual({ code: ReplyCode.Exists, values: [4] });
    expect(decodeValues('release', [6, JSON.stringify([1, 2, 1]), '', 'x'])).toEqual({ code: ReplyCode.Replayed, values: [2, 1] });
    expect(() => decodeHoldEnd('settle', [2])).toThrow(ScriptReplyError);
  });

  it('decode the reconciliation snapshot', () => {
    expect(decodeSnapshot([1, '1795643714768-3', 7, -1])).toEqual({ watermark: '1795643714768-3', values: [7, null] });
    expect(() => decodeSnapshot([1, 'not-an-id', 7])).toThrow(ScriptReplyError);
  });
});
