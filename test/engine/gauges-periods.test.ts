import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngineFixture, ledgerSums, T0, type EngineFixture } from '../support/engine.js';
import { DAY, HOUR, monthStart, NEXT_PERIOD_START, nextLeapYear, nextNewYear, PERIOD_START } from '../support/test-time.js';

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
    f.clock.set(monthStart(T0, 2) + 14 * DAY);
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
    await f.engine.consume({
      subject,
      charges: [
        { metric: 'gens', amount: 60 },
        { metric: 'exports', amount: 2 },
      ],
    });
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
    f.clock.set(NEXT_PERIOD_START);
    try {
      const d = await f.engine.consume({ subject, charges: [{ metric: 'gens', amount: 1 }] });
      expect(d).toMatchObject({ outcome: 'allowed', metrics: [{ used: 1, remaining: 99, periodStart: NEXT_PERIOD_START }] });
    } finally {
      f.clock.set(T0);
    }
    // The old period's counter is untouched.
    expect((await f.engine.usage(subject, ['gens']))[0]!.used).toBe(100);
  });

  /**
   * Uses up a counter at `before`, then moves the clock to `at` and expects a fresh period
   * from `start` to `end`: the rollover happens exactly at the boundary, with no job.
   */
  async function rollsOver(anchor: number | null, before: number, at: number, start: number, end: number) {
    const subject = { ...f.subject(), anchor };
    f.clock.set(before);
    try {
      await f.engine.consume({ subject, charges: [{ metric: 'gens', amount: 100 }] });
      expect((await f.engine.consume({ subject, charges: [{ metric: 'gens', amount: 1 }] })).outcome).toBe('denied');
      f.clock.set(at);
      const d = await f.engine.consume({ subject, charges: [{ metric: 'gens', amount: 1 }] });
      expect(d).toMatchObject({ outcome: 'allowed', metrics: [{ used: 1, periodStart: start, resetsAt: end }] });
    } finally {
      f.clock.set(T0);
    }
  }

  it('follows the subject anchor, clamped to the end of short months (Jan 31 → Feb 28 → Mar 31)', async () => {
    const year = new Date(nextNewYear()).getUTCFullYear();
    const common = nextLeapYear() === year ? year + 1 : year; // a February with 28 days
    const anchor = Date.UTC(common - 1, 0, 31, 8);
    const feb28 = Date.UTC(common, 1, 28, 8);
    await rollsOver(anchor, feb28 - 1000, feb28, feb28, Date.UTC(common, 2, 31, 8));
  });

  it('an anchor on the 29th runs to Feb 29 in a leap year, then on to Mar 29', async () => {
    const leap = nextLeapYear();
    const anchor = Date.UTC(leap - 1, 9, 29, 17, 30);
    const feb29 = Date.UTC(leap, 1, 29, 17, 30);
    await rollsOver(anchor, feb29 - 1, feb29, feb29, Date.UTC(leap, 2, 29, 17, 30));
  });

  it('the calendar period turns at Dec 31 → Jan 1, UTC', async () => {
    const newYear = nextNewYear();
    await rollsOver(null, newYear - 1, newYear, newYear, Date.UTC(new Date(newYear).getUTCFullYear(), 1, 1));
  });

  it('a renewal that moves the anchor starts a new period at 0 from the new anchor', async () => {
    const subject = f.subject();
    await f.engine.consume({ subject, charges: [{ metric: 'gens', amount: 100 }] });
    const renewed = { ...subject, anchor: T0 + 2 * HOUR };
    f.clock.set(T0 + 3 * HOUR);
    try {
      const d = await f.engine.consume({ subject: renewed, charges: [{ metric: 'gens', amount: 1 }] });
      expect(d).toMatchObject({ outcome: 'allowed', metrics: [{ used: 1, periodStart: T0 + 2 * HOUR, resetsAt: monthStart(T0, 1) + 9 * DAY + 14 * HOUR }] });
    } finally {
      f.clock.set(T0);
    }
  });

  it("counter keys expire after their period plus grace, counted on Redis's own clock", async () => {
    const subject = f.subject();
    await f.engine.consume({ subject, charges: [{ metric: 'gens', amount: 1 }] });
    const ttl = await f.redis.pttl(f.keys.counter(subject.id, 'gens', PERIOD_START));
    const expected = NEXT_PERIOD_START + 3 * DAY - T0;
    expect(ttl).toBeLessThanOrEqual(expected);
    expect(ttl).toBeGreaterThan(expected - 60_000);
  });

  it("a clock far from Redis's (a year behind or ahead) never writes a key that is already expired", async () => {
    for (const offset of [-400 * DAY, 400 * DAY]) {
      const subject = f.subject();
      f.clock.set(T0 + offset);
      try {
        await f.engine.consume({ subject, charges: [{ metric: 'gens', amount: 7 }] });
        await f.engine.adjust(subject, 'gens', 1, {});
        expect((await f.engine.usage(subject, ['gens']))[0]!.used).toBe(8);
        await f.engine.reset(subject, ['gens'], {});
        expect((await f.engine.usage(subject, ['gens']))[0]!.used).toBe(0);
        const key = f.keys.counter(subject.id, 'gens', monthStart(T0 + offset));
        expect(await f.redis.pttl(key)).toBeGreaterThan(3 * DAY - 60_000);
      } finally {
        f.clock.set(T0);
      }
    }
  });
});
