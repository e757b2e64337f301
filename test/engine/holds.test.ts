import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SubjectRef } from '../../src/quota/types.js';
import { createEngineFixture, ledgerSums, T0, type EngineFixture } from '../support/engine.js';

let f: EngineFixture;
beforeAll(async () => {
  f = await createEngineFixture({ connections: 2 });
});
afterAll(() => f.close());

async function reserve(subject: SubjectRef, amount: number, holdTtlMs?: number) {
  const d = await f.engine.consume({ subject, charges: [{ metric: 'tokens', amount, held: true }], holdTtlMs });
  if (d.outcome !== 'allowed' || !d.hold) throw new Error(`expected a hold, got ${d.outcome}`);
  return d.hold;
}

const used = async (subject: SubjectRef, metric = 'tokens') => (await f.engine.usage(subject, [metric]))[0]!.used;

describe('reservations (holds)', () => {
  it('settling below the reservation gives the rest back', async () => {
    const subject = f.subject(); // tokens: 1200
    const hold = await reserve(subject, 1000);
    expect(await used(subject)).toBe(1000);
    const settled = await f.engine.settle(subject, hold, { tokens: 250 });
    expect(settled).toMatchObject({ outcome: 'ended', metrics: [{ used: 250, remaining: 950 }] });
    const settle = (await f.events(subject.id)).find((e) => e.kind === 'settle')!;
    expect(settle).toMatchObject({ delta: -750, value: 250, extra: { held: 1000, actual: 250 } });
  });

  it('settling above the limit records the overage and denies what comes next', async () => {
    const subject = f.subject();
    const hold = await reserve(subject, 1000);
    const settled = await f.engine.settle(subject, hold, { tokens: 1500 });
    expect(settled).toMatchObject({ outcome: 'ended', metrics: [{ used: 1500, remaining: 0 }] });
    const settle = (await f.events(subject.id)).find((e) => e.kind === 'settle')!;
    expect(settle).toMatchObject({ delta: 500, extra: { overage: 300 } });
    expect(await f.engine.consume({ subject, charges: [{ metric: 'tokens', amount: 1 }] })).toMatchObject({ outcome: 'denied', metric: 'tokens' });
  });

  it('a hold is settled once: a second settle or a release finds nothing', async () => {
    const subject = f.subject();
    const hold = await reserve(subject, 100);
    const outcomes = await Promise.all([
      f.engines[0]!.settle(subject, hold, { tokens: 10 }),
      f.engines[1]!.settle(subject, hold, { tokens: 20 }),
      f.engines[0]!.returnHold(subject.id, hold, 'release'),
    ]);
    expect(outcomes.filter((o) => o.outcome === 'ended')).toHaveLength(1);
    expect(outcomes.filter((o) => o.outcome === 'not_found')).toHaveLength(2);
    expect([10, 20, 0]).toContain(await used(subject));
  });

  it('releases an unsettled reservation when it expires, and not before', async () => {
    const subject = f.subject();
    await reserve(subject, 700, 60_000);
    const partition = f.keys.partitionOf(subject.id);
    expect(await f.engine.expireHolds(partition)).toBe(0);
    expect(await used(subject)).toBe(700);
    f.clock.advance(60_001);
    try {
      expect(await f.engine.expireHolds(partition)).toBe(1);
      expect(await f.engine.expireHolds(partition)).toBe(0);
    } finally {
      f.clock.set(T0);
    }
    expect(await used(subject)).toBe(0);
    const expire = (await f.events(subject.id)).find((e) => e.kind === 'expire')!;
    expect(expire).toMatchObject({ metric: 'tokens', delta: -700, value: 0 });
  });

  it('a hold found by id settles the same way (public reservations API)', async () => {
    const subject = f.subject();
    const hold = await reserve(subject, 400);
    const read = await f.engine.readHold(subject.id, hold.id);
    expect(read).toEqual(hold);
    await f.engine.settle(subject, read!, { tokens: 399 });
    expect(await used(subject)).toBe(399);
    expect(await f.engine.readHold(subject.id, hold.id)).toBeNull();
  });

  it('a refund gives every held line back with its own event; unheld lines stay charged', async () => {
    const subject = f.subject();
    const d = await f.engine.consume({
      subject,
      charges: [
        { metric: 'gens', amount: 1, held: true },
        { metric: 'tokens', amount: 300, held: true },
        { metric: 'exports', amount: 1 },
      ],
    });
    if (d.outcome !== 'allowed' || !d.hold) throw new Error('expected a hold');
    expect(d.hold.lines.map((l) => l.metric)).toEqual(['gens', 'tokens']);
    await f.engine.returnHold(subject.id, d.hold, 'refund');
    const usage = await f.engine.usage(subject, ['gens', 'tokens', 'exports']);
    expect(usage.map((u) => u.used)).toEqual([0, 0, 1]);
    const events = await f.events(subject.id);
    expect(events.filter((e) => e.kind === 'refund').map((e) => [e.metric, e.delta])).toEqual([
      ['gens', -1],
      ['tokens', -300],
    ]);
    expect(ledgerSums(events)).toEqual({ gens: 0, tokens: 0, exports: 1 });
  });

  it('a reservation of 0 can settle upwards (the cost was unknown)', async () => {
    const subject = f.subject();
    const hold = await reserve(subject, 0);
    await f.engine.settle(subject, hold, { tokens: 42 });
    expect(await used(subject)).toBe(42);
  });
});
