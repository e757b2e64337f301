import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngineFixture, ledgerSums, T0, type EngineFixture } from '../support/engine.js';

let f: EngineFixture;
beforeAll(async () => {
  f = await createEngineFixture({ connections: 2 });
});
afterAll(() => f.close());

describe('gauges', () => {
  it('go down on release, never below 0, and a release needs no quota', async () => {
    const subject = f.subject();
    await f.engine.consume({ subject, charges: [{ metric: 'projects', amount: 5 }] });
    expect((await f.engine.consume({ subject, charges: [{ metric: 'projects', amount: 1 }] })).outcome).toBe('denied');
    expect(await f.engine.release(subject, 'projects', 2)).toEqual({ outcome: 'released', level: 3, released: 2 });
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => f.engines[i % 2]!.release(subject, 'projects', 1)));
    expect(results.filter((r) => r.outcome === 'released' && r.released === 1)).toHaveLength(3);
    expect((await f.engine.usage(subject, ['projects']))[0]!.used).toBe(0);
    const events = await f.events(subject.id);
    expect(events.filter((e) => e.kind === 'release')).toHaveLength(4);
    expect(ledgerSums(events).projects).toBe(0);
  });

  it('persist across periods', async () => {
    const subject = f.subject();
    await f.engine.consume({ subject, charges: [{ metric: 'projects', amount: 2 }] });
    f.clock.set(Date.parse('2027-01-15T00:00:00Z'));
    try {
      expect((await f.engine.usage(subject, ['projects']))[0]!.used).toBe(2);
    } finally {
      f.clock.set(T0);
    }
  });

  it('refuse release of a counter', async () => {
    await expect(f.engine.release(f.subject(), 'gens', 1)).rejects.toThrow(/only gauges/);
  });
});

describe('reset and adjust', () => {
  it('reset sets current counters to 0 with an event carrying the previous value', async () => {
    const subject = f.subject();
    await f.engine.consume({ subject, charges: [{ metric: 'gens', amount: 60 }, { metric: 'exports', amount: 2 }] });
    expect(await f.engine.reset(subject, ['gens'], { actor: 'admin', reason: 'support ticket 12' })).toEqual([{ metric: 'gens', previous: 60 }]);
    const usage = await f.engine.usage(subject, ['gens', 'exports']);
    expect(usage.map((u) => u.used)).toEqual([0, 2]);
    const reset = (await f.events(subject.id)).find((e) => e.kind === 'reset')!;
    expect(reset).toMatchObject({ metric: 'gens', delta: -60, value: 0, extra: { previous: 60 }, context: { actor: 'admin', reason: 'support ticket 12' } });
    expect(ledgerSums(await f.events(subject.id))).toEqual({ gens: 0, exports: 2 });
  });

  it('reset without metrics resets every counter and refuses gauges', async () => {
    const subject = f.subject();
    await f.engine.consume({ subject, charges: [{ metric: 'tokens', amount: 5 }] });
    const previous = await f.engine.reset(subject, undefined, {});
    expect(previous.map((p) => p.metric).sort()).toEqual(['exports', 'gens', 'tokens']);
    await expect(f.engine.reset(subject, ['projects'], {})).rejects.toThrow(/only counters/);
  });

  it('adjust corrects up or down, never below 0', async () => {
    const subject = f.subject();
    await f.engine.consume({ subject, charges: [{ metric: 'gens', amount: 10 }] });
    expect(await f.engine.adjust(subject, 'gens', 5, { reason: 'missed usage' })).toEqual({ value: 15, applied: 5 });
    expect(await f.engine.adjust(subject, 'gens', -100, { reason: 'goodwill' })).toEqual({ value: 0, applied: -15 });
    expect(ledgerSums(await f.events(subject.id)).gens).toBe(0);
  });
});

describe('periods', () => {
  it('a new period starts at 0 without any job running', async () => {
    const subject = f.subject();
    await f.engine.consume({ subject, charges: [{ metric: 'gens', amount: 100 }] });
    expect((await f.engine.consume({ subject, charges: [{ metric: 'gens', amount: 1 }] })).outcome).toBe('denied');
    f.clock.set(Date.parse('2026-12-01T00:00:00Z'));
    try {
      const d = await f.engine.consume({ subject, charges: [{ metric: 'gens', amount: 1 }] });
      expect(d).toMatchObject({ outcome: 'allowed', metrics: [{ used: 1, remaining: 99 }] });
      if (d.outcome === 'allowed') expect(new Date(d.metrics[0]!.periodStart!).toISOString()).toBe('2026-12-01T00:00:00.000Z');
    } finally {
      f.clock.set(T0);
    }
    // The old period's counter is untouched.
    expect((await f.engine.usage(subject, ['gens']))[0]!.used).toBe(100);
  });

  it('follows the subject anchor, clamped to the end of short months', async () => {
    const subject = { ...f.subject(), anchor: Date.parse('2026-01-31T08:00:00Z') };
    f.clock.set(Date.parse('2027-02-28T07:59:59Z'));
    try {
      await f.engine.consume({ subject, charges: [{ metric: 'gens', amount: 100 }] });
      f.clock.set(Date.parse('2027-02-28T08:00:00Z'));
      const d = await f.engine.consume({ subject, charges: [{ metric: 'gens', amount: 1 }] });
      expect(d).toMatchObject({ outcome: 'allowed', metrics: [{ used: 1 }] });
      if (d.outcome === 'allowed') expect(new Date(d.metrics[0]!.resetsAt!).toISOString()).toBe('2027-03-31T08:00:00.000Z');
    } finally {
      f.clock.set(T0);
    }
  });

  it('counter keys expire after their period plus grace', async () => {
    const subject = f.subject();
    await f.engine.consume({ subject, charges: [{ metric: 'gens', amount: 1 }] });
    const key = f.keys.counter(subject.id, 'gens', Date.parse('2026-11-01T00:00:00Z'));
    const expireAt = await f.redis.pexpiretime(key);
    expect(expireAt).toBe(Date.parse('2026-12-01T00:00:00Z') + 3 * 86_400_000);
  });
});
