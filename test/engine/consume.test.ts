import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Decision } from '../../src/quota/types.js';
import { createEngineFixture, ledgerSums, type EngineFixture } from '../support/engine.js';
import { NEXT_PERIOD_START } from '../support/test-time.js';

let f: EngineFixture;
beforeAll(async () => {
  // Four connections stand for four gateways deciding at once.
  f = await createEngineFixture({ connections: 4 });
});
afterAll(() => f.close());

const count = (decisions: Decision[], outcome: Decision['outcome']) => decisions.filter((d) => d.outcome === outcome).length;

describe('consume under concurrency', () => {
  it('admits exactly the remaining units when 1,000 requests race for 100', async () => {
    const subject = f.subject();
    const decisions = await Promise.all(Array.from({ length: 1000 }, (_, i) => f.engines[i % 4]!.consume({ subject, charges: [{ metric: 'gens', amount: 1 }] })));
    expect(count(decisions, 'allowed')).toBe(100);
    expect(count(decisions, 'denied')).toBe(900);
    const [usage] = await f.engine.usage(subject, ['gens']);
    expect(usage!.used).toBe(100);
    expect(usage!.remaining).toBe(0);
    const events = await f.events(subject.id);
    expect(events.filter((e) => e.kind === 'consume')).toHaveLength(100);
    expect(events.filter((e) => e.kind === 'denied')).toHaveLength(900);
    expect(ledgerSums(events).gens).toBe(100);
  });

  it('takes nothing of the first metric when the second one denies', async () => {
    const subject = f.subject();
    // gens allows 100, exports only 5: exports runs out first.
    const decisions = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        f.engines[i % 4]!.consume({
          subject,
          charges: [
            { metric: 'gens', amount: 1 },
            { metric: 'exports', amount: 1 },
          ],
        }),
      ),
    );
    expect(count(decisions, 'allowed')).toBe(5);
    const denied = decisions.filter((d) => d.outcome === 'denied');
    expect(denied).toHaveLength(45);
    for (const d of denied) expect(d).toMatchObject({ reason: 'quota', metric: 'exports' });
    const usage = await f.engine.usage(subject, ['gens', 'exports']);
    expect(usage.map((u) => u.used)).toEqual([5, 5]);
    const sums = ledgerSums(await f.events(subject.id));
    expect(sums).toEqual({ gens: 5, exports: 5 });
  });

  it('lets exactly one of 5 concurrent creates through at 4/5 (never 9/5)', async () => {
    const subject = f.subject();
    await f.engine.consume({ subject, charges: [{ metric: 'projects', amount: 4 }] });
    const decisions = await Promise.all(Array.from({ length: 5 }, (_, i) => f.engines[i % 4]!.consume({ subject, charges: [{ metric: 'projects', amount: 1 }] })));
    expect(count(decisions, 'allowed')).toBe(1);
    expect((await f.engine.usage(subject, ['projects']))[0]!.used).toBe(5);
  });

  it('reports limit, used, remaining and the period reset on every decision', async () => {
    const subject = f.subject();
    const d = await f.engine.consume({ subject, charges: [{ metric: 'gens', amount: 30 }] });
    expect(d).toMatchObject({
      outcome: 'allowed',
      metrics: [{ metric: 'gens', kind: 'counter', limit: 100, used: 30, remaining: 70, grantBalance: 0 }],
    });
    if (d.outcome !== 'allowed') throw new Error('unreachable');
    expect(d.metrics[0]!.resetsAt).toBe(NEXT_PERIOD_START);
    const denied = await f.engine.consume({ subject, charges: [{ metric: 'gens', amount: 71 }] });
    expect(denied).toMatchObject({ outcome: 'denied', reason: 'quota', metric: 'gens', requested: 71, metrics: [{ used: 30, remaining: 70 }] });
  });

  it('treats a null limit as unlimited and still counts usage', async () => {
    const subject = f.subject(undefined, 'unlimited');
    const d = await f.engine.consume({ subject, charges: [{ metric: 'gens', amount: 1_000_000 }] });
    expect(d).toMatchObject({ outcome: 'allowed', metrics: [{ limit: null, used: 1_000_000, remaining: null }] });
  });

  it('applies per-subject overrides before the plan limit', async () => {
    const subject = { ...f.subject(), overrides: { gens: 2 } };
    const decisions = await Promise.all(Array.from({ length: 5 }, () => f.engine.consume({ subject, charges: [{ metric: 'gens', amount: 1 }] })));
    expect(count(decisions, 'allowed')).toBe(2);
  });

  it('check decides without applying anything', async () => {
    const subject = f.subject();
    const d = await f.engine.check({ subject, charges: [{ metric: 'gens', amount: 100 }], rateClass: 'api' });
    expect(d).toMatchObject({ outcome: 'allowed', metrics: [{ used: 0 }] });
    const over = await f.engine.check({ subject, charges: [{ metric: 'gens', amount: 101 }] });
    expect(over).toMatchObject({ outcome: 'denied', reason: 'quota' });
    expect((await f.engine.usage(subject, ['gens']))[0]!.used).toBe(0);
    expect(await f.events(subject.id)).toEqual([]);
  });

  it('shadow mode records what it would deny but never denies', async () => {
    const subject = f.subject();
    await f.engine.consume({ subject, charges: [{ metric: 'exports', amount: 5 }] });
    const d = await f.engine.consume({ subject, charges: [{ metric: 'exports', amount: 2 }], mode: 'shadow' });
    expect(d).toMatchObject({ outcome: 'allowed', wouldDeny: { reason: 'quota', metric: 'exports' }, metrics: [{ used: 7, remaining: 0 }] });
    const events = await f.events(subject.id);
    expect(events.map((e) => e.kind)).toEqual(['consume', 'denied', 'consume']);
    expect(events[1]!.extra).toMatchObject({ shadow: true });
    expect(events[2]!.extra).toMatchObject({ overage: 2 });
  });

  it('rejects charges it cannot decide: unknown metric, bad amounts, a metric twice', async () => {
    const subject = f.subject();
    await expect(f.engine.consume({ subject, charges: [{ metric: 'nope', amount: 1 }] })).rejects.toThrow(/unknown metric/);
    for (const amount of [-1, 1.5, Number.NaN, 2 ** 60]) {
      await expect(f.engine.consume({ subject, charges: [{ metric: 'gens', amount }] })).rejects.toThrow(/whole number/);
    }
    await expect(
      f.engine.consume({
        subject,
        charges: [
          { metric: 'gens', amount: 1 },
          { metric: 'gens', amount: 1 },
        ],
      }),
    ).rejects.toThrow(/twice/);
    expect(await f.events(subject.id)).toEqual([]);
  });
});
