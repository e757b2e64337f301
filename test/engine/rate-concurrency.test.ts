import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngineFixture, T0, type EngineFixture } from '../support/engine.js';

let f: EngineFixture;
beforeAll(async () => {
  f = await createEngineFixture({ connections: 2 });
});
afterAll(() => f.close());

describe('request rate (GCRA)', () => {
  it('at 10 rps and burst 10, a burst of 30 admits 10', async () => {
    const subject = f.subject();
    const decisions = await Promise.all(Array.from({ length: 30 }, (_, i) => f.engines[i % 2]!.consume({ subject, charges: [], rateClass: 'chat' })));
    expect(decisions.filter((d) => d.outcome === 'allowed')).toHaveLength(10);
    const denied = decisions.filter((d) => d.outcome === 'denied');
    expect(denied).toHaveLength(20);
    for (const d of denied) expect(d).toMatchObject({ reason: 'rate', retryAfterMs: 100, rate: { limit: 10, rps: 10, remaining: 0 } });
  });

  it('admits at the sustained rate over a simulated second', async () => {
    const subject = f.subject();
    const admit = async () => (await f.engine.consume({ subject, charges: [], rateClass: 'chat' })).outcome === 'allowed';
    let admitted = 0;
    for (let i = 0; i < 10; i++) if (await admit()) admitted++;
    expect(admitted).toBe(10);
    expect(await admit()).toBe(false);
    try {
      // Every 50 ms for one second: one request fits each 100 ms.
      admitted = 0;
      for (let t = 50; t <= 1000; t += 50) {
        f.clock.set(T0 + t);
        if (await admit()) admitted++;
      }
      expect(admitted).toBe(10);
      // After a quiet second the whole burst is back.
      f.clock.set(T0 + 3000);
      const burst = await Promise.all(Array.from({ length: 12 }, admit));
      expect(burst.filter(Boolean)).toHaveLength(10);
    } finally {
      f.clock.set(T0);
    }
  });

  it('reports remaining and reset for the RateLimit headers', async () => {
    const subject = f.subject();
    const d = await f.engine.consume({ subject, charges: [], rateClass: 'api' });
    expect(d).toMatchObject({ outcome: 'allowed', rate: { limit: 10, rps: 10, remaining: 9, resetMs: 100 } });
  });

  it('keeps separate buckets per rate class', async () => {
    const subject = f.subject();
    await Promise.all(Array.from({ length: 10 }, () => f.engine.consume({ subject, charges: [], rateClass: 'a' })));
    expect((await f.engine.consume({ subject, charges: [], rateClass: 'a' })).outcome).toBe('denied');
    expect((await f.engine.consume({ subject, charges: [], rateClass: 'b' })).outcome).toBe('allowed');
  });

  it('a rate denial charges nothing', async () => {
    const subject = f.subject();
    const results = await Promise.all(Array.from({ length: 15 }, () => f.engine.consume({ subject, charges: [{ metric: 'gens', amount: 1 }], rateClass: 'x' })));
    expect(results.filter((r) => r.outcome === 'allowed')).toHaveLength(10);
    expect((await f.engine.usage(subject, ['gens']))[0]!.used).toBe(10);
  });
});

describe('concurrency leases', () => {
  it('admits at most the plan concurrency in flight and frees a lease when the hold ends', async () => {
    const subject = f.subject(); // concurrency: 3
    const decisions = await Promise.all(Array.from({ length: 8 }, (_, i) => f.engines[i % 2]!.consume({ subject, charges: [], concurrency: true, holdTtlMs: 30_000 })));
    const allowed = decisions.filter((d) => d.outcome === 'allowed');
    expect(allowed).toHaveLength(3);
    expect(decisions.filter((d) => d.outcome === 'denied')[0]).toMatchObject({ reason: 'concurrency', limit: 3, inUse: 3 });
    const first = allowed[0]!;
    if (first.outcome !== 'allowed' || !first.hold) throw new Error('expected a hold');
    await f.engine.settle(subject, first.hold);
    expect((await f.engine.consume({ subject, charges: [], concurrency: true, holdTtlMs: 30_000 })).outcome).toBe('allowed');
  });

  it('a lease whose holder vanished expires with its hold deadline', async () => {
    const subject = f.subject();
    await Promise.all(Array.from({ length: 3 }, () => f.engine.consume({ subject, charges: [], concurrency: true, holdTtlMs: 5_000 })));
    expect((await f.engine.consume({ subject, charges: [], concurrency: true, holdTtlMs: 5_000 })).outcome).toBe('denied');
    f.clock.advance(5_001);
    try {
      expect((await f.engine.consume({ subject, charges: [], concurrency: true, holdTtlMs: 5_000 })).outcome).toBe('allowed');
    } finally {
      f.clock.set(T0);
    }
  });
});
