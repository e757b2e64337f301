import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineInputError } from '../../src/quota/errors.js';
import type { Charge, SubjectRef } from '../../src/quota/types.js';
import { createEngineFixture, ledgerSums, T0, type EngineFixture } from '../support/engine.js';
import { NEXT_PERIOD_START } from '../support/test-time.js';

let f: EngineFixture;
beforeAll(async () => {
  f = await createEngineFixture({ connections: 2 });
});
afterAll(() => f.close());

const TTL = 60_000;

/** A charge taken outright that a refund can give back (what the gateway does without a hold). */
async function chargeRefundably(subject: SubjectRef, charges: Charge[]) {
  const d = await f.engine.consume({ subject, charges, refundTtlMs: TTL });
  if (d.outcome !== 'allowed' || !d.refund) throw new Error(`expected a refundable charge, got ${d.outcome}`);
  return d;
}

const usageOf = async (subject: SubjectRef, metric: string) => (await f.engine.usage(subject, [metric]))[0]!;

describe('refunds of charges taken outright', () => {
  it('charges without a hold, and a refund gives every line back with a refund event of its own', async () => {
    const subject = f.subject();
    const d = await chargeRefundably(subject, [
      { metric: 'gens', amount: 2 },
      { metric: 'exports', amount: 1 },
    ]);
    expect(d.hold).toBeNull();
    expect(await f.redis.exists(f.keys.hold(subject.id, d.requestId))).toBe(0);
    expect((await usageOf(subject, 'gens')).used).toBe(2);

    expect(await f.engine.refund(d.refund!)).toBe('refunded');
    expect((await usageOf(subject, 'gens')).used).toBe(0);
    expect((await usageOf(subject, 'exports')).used).toBe(0);
    const events = await f.events(subject.id);
    expect(events.map((e) => [e.kind, e.metric, e.delta])).toEqual([
      ['consume', 'gens', 2],
      ['consume', 'exports', 1],
      ['refund', 'gens', -2],
      ['refund', 'exports', -1],
    ]);
    expect(events[2]).toMatchObject({ id: `${d.requestId}:r:1`, extra: { request: d.requestId } });
    expect(ledgerSums(events)).toEqual({ gens: 0, exports: 0 });
  });

  it('refunds at most once, however often or concurrently it is asked', async () => {
    const subject = f.subject();
    const d = await chargeRefundably(subject, [{ metric: 'gens', amount: 3 }]);
    const outcomes = await Promise.all([f.engines[0]!.refund(d.refund!), f.engines[1]!.refund(d.refund!), f.engines[0]!.refund(d.refund!)]);
    expect(outcomes.sort()).toEqual(['not_found', 'not_found', 'refunded']);
    expect((await usageOf(subject, 'gens')).used).toBe(0);
    expect((await f.events(subject.id)).filter((e) => e.kind === 'refund')).toHaveLength(1);
  });

  it('gives the grants a charge drew back first', async () => {
    const subject = f.subject(); // exports: 5
    await f.engine.grant(subject, { metric: 'exports', amount: 4, expiresAt: null, id: 'g' }, {});
    await f.engine.consume({ subject, charges: [{ metric: 'exports', amount: 4 }] });
    const d = await chargeRefundably(subject, [{ metric: 'exports', amount: 3 }]);
    expect(d.metrics[0]).toMatchObject({ used: 7, grantBalance: 2 });
    await f.engine.refund(d.refund!);
    expect(await usageOf(subject, 'exports')).toMatchObject({ used: 4, grantBalance: 4 });
    const refund = (await f.events(subject.id)).find((e) => e.kind === 'refund')!;
    expect(refund).toMatchObject({ delta: -3, extra: { restored: [['g', 2]] } });
  });

  it('refunds the period the charge was taken in, after the period has turned', async () => {
    const subject = f.subject();
    const d = await chargeRefundably(subject, [{ metric: 'gens', amount: 1 }]);
    f.clock.set(NEXT_PERIOD_START + 1000);
    try {
      await f.engine.refund(d.refund!);
    } finally {
      f.clock.set(T0);
    }
    const [consume, refund] = await f.events(subject.id);
    expect(refund).toMatchObject({ kind: 'refund', periodStart: consume!.periodStart, value: 0 });
  });

  it('refuses a refund TTL together with a hold or an idempotency key', async () => {
    const subject = f.subject();
    const held = { subject, charges: [{ metric: 'gens', amount: 1, held: true }], refundTtlMs: TTL };
    await expect(f.engine.consume(held)).rejects.toBeInstanceOf(EngineInputError);
    const idempotent = { subject, charges: [{ metric: 'gens', amount: 1 }], refundTtlMs: TTL, idempotency: { key: 'k', fingerprint: 'f' } };
    await expect(f.engine.consume(idempotent)).rejects.toBeInstanceOf(EngineInputError);
  });
});
