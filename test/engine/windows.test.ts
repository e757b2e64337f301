import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngineFixture, T0, type EngineFixture } from '../support/engine.js';

/**
 * A counter's windows in the engine: checked and consumed in the consume script with its
 * period, without grants, ledger events, holds or hydration.
 */

let f: EngineFixture;
beforeAll(async () => {
  f = await createEngineFixture({
    policy: {
      metrics: { tokens: { kind: 'counter' } },
      plans: { test: { limits: { tokens: { period: 1000, minute: 100, hour: 250 } } } },
    },
  });
});
afterAll(() => f.close());

describe('windows in the consume script', () => {
  it('a charge must fit the period and every window; a window denial applies nothing and names its window', async () => {
    f.clock.set(T0 + 10_000);
    const subject = f.subject();
    const first = await f.engine.consume({ subject, charges: [{ metric: 'tokens', amount: 80 }] });
    expect(first).toMatchObject({
      outcome: 'allowed',
      metrics: [
        {
          used: 80,
          remaining: 920,
          windows: [
            { window: 'minute', used: 80, remaining: 20 },
            { window: 'hour', used: 80, remaining: 170 },
          ],
        },
      ],
    });
    const denied = await f.engine.consume({ subject, charges: [{ metric: 'tokens', amount: 21 }] });
    expect(denied).toMatchObject({ outcome: 'denied', reason: 'quota', metric: 'tokens', requested: 21, window: { window: 'minute', limit: 100, used: 80 } });
    // Only the period's counter is ledgered: one consume event, then the denial record.
    const events = await f.events(subject.id);
    expect(events.map((e) => [e.kind, e.delta, e.value])).toEqual([
      ['consume', 80, 80],
      ['denied', 0, 80],
    ]);
    expect(events[1]!.extra).toMatchObject({ window: 'minute', limit: 100 });
  });

  it('the next minute admits again up to the hour window; the period counts everything', async () => {
    f.clock.set(T0 + 20_000);
    const subject = f.subject();
    for (const at of [0, 60_000, 120_000]) {
      f.clock.set(T0 + 20_000 + at);
      const d = await f.engine.consume({ subject, charges: [{ metric: 'tokens', amount: 100 }] });
      expect(d.outcome, `at +${at}`).toBe(at < 120_000 ? 'allowed' : 'denied');
    }
    expect((await f.engine.usage(subject, ['tokens']))[0]!.used).toBe(200);
  });

  it('a held reservation counts in the window at its reserved amount; settling moves only the period', async () => {
    f.clock.set(T0 + 30_000);
    const subject = f.subject();
    const d = await f.engine.consume({ subject, charges: [{ metric: 'tokens', amount: 90, held: true }] });
    if (d.outcome !== 'allowed' || !d.hold) throw new Error('expected a hold');
    await f.engine.settle(subject, d.hold, { tokens: 10 });
    expect((await f.engine.usage(subject, ['tokens']))[0]!.used).toBe(10);
    expect(await f.engine.consume({ subject, charges: [{ metric: 'tokens', amount: 11 }] })).toMatchObject({ outcome: 'denied', window: { window: 'minute' } });
  });

  it('shadow mode charges past a window and says which metric would have denied', async () => {
    f.clock.set(T0 + 35_000);
    const subject = f.subject();
    await f.engine.consume({ subject, charges: [{ metric: 'tokens', amount: 100 }] });
    const d = await f.engine.consume({ subject, charges: [{ metric: 'tokens', amount: 5 }], mode: 'shadow' });
    expect(d).toMatchObject({
      outcome: 'allowed',
      wouldDeny: { reason: 'quota', metric: 'tokens' },
      metrics: [{ used: 105, windows: [{ window: 'minute', used: 105, remaining: 0 }, { window: 'hour' }] }],
    });
  });

  it('500 concurrent consumes never take more than the window', async () => {
    f.clock.set(T0 + 40_000);
    const subject = f.subject();
    const decisions = await Promise.all(Array.from({ length: 500 }, (_, i) => f.engine.consume({ subject, charges: [{ metric: 'tokens', amount: 1 + (i % 3) }] })));
    const taken = decisions.reduce((n, d, i) => n + (d.outcome === 'allowed' ? 1 + (i % 3) : 0), 0);
    expect(taken).toBeLessThanOrEqual(100);
    expect(taken).toBeGreaterThanOrEqual(98);
    expect((await f.engine.usage(subject, ['tokens']))[0]!.used).toBe(taken);
  });
});
