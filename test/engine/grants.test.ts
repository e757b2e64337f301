import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngineFixture, ledgerSums, T0, type EngineFixture } from '../support/engine.js';

let f: EngineFixture;
beforeAll(async () => {
  f = await createEngineFixture({ connections: 2 });
});
afterAll(() => f.close());

const DAY = 86_400_000;

describe('grants (bonus credit)', () => {
  it('uses the plan allowance first, then the earliest-expiring grant; an expired grant gives nothing', async () => {
    const subject = f.subject(); // exports: 5 per period
    const ctx = { actor: 'test' };
    await f.engine.grant(subject, { metric: 'exports', amount: 3, expiresAt: null, id: 'never' }, ctx);
    await f.engine.grant(subject, { metric: 'exports', amount: 2, expiresAt: T0 + 10 * DAY, id: 'late' }, ctx);
    await f.engine.grant(subject, { metric: 'exports', amount: 2, expiresAt: T0 + 2 * DAY, id: 'soon' }, ctx);
    await f.engine.grant(subject, { metric: 'exports', amount: 50, expiresAt: T0 - 1, id: 'expired' }, ctx);

    // The plan's 5 go first: no grant is touched.
    let d = await f.engine.consume({ subject, charges: [{ metric: 'exports', amount: 5 }] });
    expect(d).toMatchObject({ outcome: 'allowed', metrics: [{ used: 5, grantBalance: 7, remaining: 7 }] });
    // Then 'soon' (2), then 'late' (1 of 2).
    d = await f.engine.consume({ subject, charges: [{ metric: 'exports', amount: 3 }] });
    expect(d).toMatchObject({ outcome: 'allowed', metrics: [{ used: 8, grantBalance: 4 }] });
    const consume = (await f.events(subject.id)).filter((e) => e.kind === 'consume').at(-1)!;
    expect(consume.extra.draws).toEqual([
      ['soon', 2],
      ['late', 1],
    ]);
    // 4 usable left ('late' 1 + 'never' 3); the expired 50 never count.
    expect((await f.engine.consume({ subject, charges: [{ metric: 'exports', amount: 5 }] })).outcome).toBe('denied');
    expect((await f.engine.consume({ subject, charges: [{ metric: 'exports', amount: 4 }] })).outcome).toBe('allowed');
    expect((await f.engine.consume({ subject, charges: [{ metric: 'exports', amount: 1 }] })).outcome).toBe('denied');
  });

  it('stops counting a grant once it expires', async () => {
    const subject = f.subject();
    await f.engine.grant(subject, { metric: 'exports', amount: 10, expiresAt: T0 + DAY, id: 'g' }, {});
    expect((await f.engine.check({ subject, charges: [{ metric: 'exports', amount: 15 }] })).outcome).toBe('allowed');
    f.clock.advance(DAY);
    try {
      expect((await f.engine.check({ subject, charges: [{ metric: 'exports', amount: 6 }] })).outcome).toBe('denied');
    } finally {
      f.clock.set(T0);
    }
  });

  it('gives grant draws back first on a refund', async () => {
    const subject = f.subject();
    await f.engine.grant(subject, { metric: 'exports', amount: 4, expiresAt: null, id: 'g' }, {});
    await f.engine.consume({ subject, charges: [{ metric: 'exports', amount: 4 }] });
    const d = await f.engine.consume({ subject, charges: [{ metric: 'exports', amount: 3, held: true }] });
    if (d.outcome !== 'allowed' || !d.hold) throw new Error('expected a hold');
    expect(d.metrics[0]).toMatchObject({ used: 7, grantBalance: 2 });
    const refunded = await f.engine.returnHold(subject.id, d.hold, 'refund');
    expect(refunded).toMatchObject({ outcome: 'ended', metrics: [{ used: 4, grantBalance: 4 }] });
  });

  it('raises a gauge ceiling while the grant lasts', async () => {
    const subject = f.subject(); // projects: 5
    await f.engine.grant(subject, { metric: 'projects', amount: 2, expiresAt: null, id: 'bonus-projects' }, {});
    const results = await Promise.all(Array.from({ length: 10 }, () => f.engine.consume({ subject, charges: [{ metric: 'projects', amount: 1 }] })));
    expect(results.filter((r) => r.outcome === 'allowed')).toHaveLength(7);
    // A level grant is not consumed: deleting and recreating stays within 7.
    await f.engine.release(subject, 'projects', 2);
    expect((await f.engine.consume({ subject, charges: [{ metric: 'projects', amount: 2 }] })).outcome).toBe('allowed');
  });

  it('re-granting the same id changes nothing; revoking removes what is left', async () => {
    const subject = f.subject();
    expect(await f.engine.grant(subject, { metric: 'exports', amount: 5, expiresAt: null, id: 'once' }, {})).toMatchObject({ created: true, balance: 5 });
    expect(await f.engine.grant(subject, { metric: 'exports', amount: 5, expiresAt: null, id: 'once' }, {})).toMatchObject({ created: false, balance: 5 });
    await f.engine.consume({ subject, charges: [{ metric: 'exports', amount: 7 }] });
    expect(await f.engine.revokeGrant(subject, 'exports', 'once', { actor: 'ops' })).toEqual({ found: true, remaining: 3, balance: 0 });
    expect(await f.engine.revokeGrant(subject, 'exports', 'once', {})).toEqual({ found: false });
    const events = await f.events(subject.id);
    expect(events.map((e) => e.kind)).toEqual(['grant', 'consume', 'grant_revoke']);
    expect(ledgerSums(events).exports).toBe(7);
  });
});
