import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { KeySchema } from '../keys.js';
import { consumeCall, type ConsumeRequest } from './consume.js';

const lua = readFileSync(new URL('../../../lua/consume.lua', import.meta.url), 'utf8');
const header = lua.slice(0, lua.indexOf(']]'));
const body = lua.slice(lua.indexOf(']]'));

/** The member names the header lists under `ARGV[1]` (one per line, first word). */
const documentedFields = (): string[] => {
  const section = header.slice(header.indexOf('ARGV[1]'), header.indexOf('ARGV[2]'));
  return [...section.matchAll(/^ {4}([a-z_]+) /gm)].map((m) => m[1]!);
};

const keys = new KeySchema('qg', 16);
const everything: ConsumeRequest = {
  now: 1_800_000_000_000,
  subjectId: 'sub-1',
  requestId: 'req-1',
  mode: 'apply',
  rate: { bucket: 'chat', intervalMs: 100, burst: 10 },
  denialTallyTtlMs: 600_000,
  lines: [
    { metric: 'gens', kind: 'counter', periodStart: 1_798_761_600_000, limit: 100, amount: 2, ttlMs: 5_000, held: true },
    { metric: 'projects', kind: 'gauge', periodStart: null, limit: null, amount: 1, ttlMs: 0, held: false },
  ],
  concurrency: 3,
  holdTtlMs: 60_000,
  idempotency: { key: 'idem-1', fingerprint: 'fp', ttlMs: 86_400_000 },
  refundTtlMs: 0,
  voidTtlMs: 0,
  context: '{"route":"chat"}',
};

describe('the consume call: encode → the layout of lua/consume.lua', () => {
  it('sends the fixed KEYS first, then each metric’s usage and grants keys, as the header lists them', () => {
    const call = consumeCall(keys, everything, 0);
    const p = keys.partitionOf('sub-1');
    expect(call.keys).toEqual([
      keys.outbox(p),
      keys.denials(p, 1_800_000_000_000 - (1_800_000_000_000 % 60_000)),
      keys.rate('sub-1', 'chat'),
      keys.holdDeadlines(p),
      keys.concurrency('sub-1'),
      keys.idempotency('sub-1', 'idem-1'),
      keys.hold('sub-1', 'req-1'),
      keys.unused(p), // no refund record: it holds a hold
      keys.counter('sub-1', 'gens', 1_798_761_600_000),
      keys.grants('sub-1', 'gens'),
      keys.gauge('sub-1', 'projects'),
      keys.grants('sub-1', 'projects'),
    ]);
    // The header numbers the fixed keys 1..8; the script takes metric keys after them.
    expect([...header.matchAll(/^ {2}KEYS\[(\d)\]/gm)].map((m) => Number(m[1]))).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(body).toContain('local METRIC_KEYS = 8');
  });

  it('packs the request in ARGV[1] with exactly the members the header documents and the script reads', () => {
    const call = consumeCall(keys, everything, 1_800_000_000_500);
    const wire = JSON.parse(String(call.args[0])) as Record<string, unknown>;
    expect(Object.keys(wire).sort()).toEqual(documentedFields().sort());
    const read = new Set([...body.matchAll(/request\.([a-z_]+)/g)].map((m) => m[1]!));
    expect([...read].sort()).toEqual(documentedFields().sort());
    expect(wire).toMatchObject({
      now: 1_800_000_000_000,
      subject: 'sub-1',
      id: 'req-1',
      mode: 'apply',
      rate: { interval: 100, burst: 10 },
      metrics: [
        { name: 'gens', kind: 'c', period: '1798761600000', limit: 100, amount: 2, ttl: 5_000, held: true },
        { name: 'projects', kind: 'g', period: '', limit: -1, amount: 1, ttl: 0 },
      ],
      concurrency: 3,
      hold_ttl: 60_000,
      idempotency: { key: 'idem-1', fingerprint: 'fp', ttl: 86_400_000 },
      refund_ttl: 0,
    });
    expect(call.args.slice(1)).toEqual(['{"route":"chat"}', 1_800_000_000_500]);
  });

  it('leaves out what a request does not use: no rate, no idempotency, no held flag, none of their keys', () => {
    const call = consumeCall(keys, { ...everything, rate: null, idempotency: null, lines: [{ ...everything.lines[1]! }] }, 0);
    const wire = JSON.parse(String(call.args[0])) as Record<string, unknown>;
    expect(wire).not.toHaveProperty('rate');
    expect(wire).not.toHaveProperty('idempotency');
    expect(wire.metrics).toEqual([{ name: 'projects', kind: 'g', period: '', limit: -1, amount: 1, ttl: 0 }]);
    const p = keys.partitionOf('sub-1');
    // Without a hold, a lease, an idempotency key or a refund record, their places hold the partition's unused key.
    expect(call.keys.slice(3, 8)).toEqual([keys.holdDeadlines(p), keys.concurrency('sub-1'), keys.unused(p), keys.hold('sub-1', 'req-1'), keys.unused(p)]);
    const bare = consumeCall(keys, { ...everything, rate: null, idempotency: null, concurrency: 0, holdTtlMs: 0, lines: [] }, 0);
    expect(bare.keys.slice(3)).toEqual(Array(5).fill(keys.unused(p)));
    const refundable = consumeCall(keys, { ...everything, idempotency: null, concurrency: 0, holdTtlMs: 0, refundTtlMs: 1_000, lines: [] }, 0);
    expect(refundable.keys.slice(3)).toEqual([keys.unused(p), keys.unused(p), keys.unused(p), keys.unused(p), keys.refund('sub-1', 'req-1')]);
  });
});
