import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SubjectRef } from '../../src/quota/types.js';
import { createEngineFixture, type EngineFixture } from '../support/engine.js';
import { PERIOD_START } from '../support/test-time.js';

let f: EngineFixture;
beforeAll(async () => {
  f = await createEngineFixture({ connections: 4 });
});
afterAll(() => f.close());

const PERIOD = new Date(PERIOD_START).toISOString();

async function ledgerSubject(subject: SubjectRef, counters: Record<string, number>, gauges: Record<string, number> = {}) {
  await f.pool.query('INSERT INTO subjects (id, plan) VALUES ($1, $2)', [subject.id, subject.plan]);
  for (const [metric, value] of Object.entries(counters)) {
    await f.pool.query('INSERT INTO usage_counters (subject_id, metric, period_start, value) VALUES ($1, $2, $3, $4)', [subject.id, metric, PERIOD, value]);
  }
  for (const [metric, value] of Object.entries(gauges)) {
    await f.pool.query(`INSERT INTO usage_counters (subject_id, metric, period_start, value) VALUES ($1, $2, '-infinity', $3)`, [subject.id, metric, value]);
  }
}

/** What a Redis restart without persistence, a failover or an eviction does to one subject. */
async function loseRedisState(subject: SubjectRef) {
  const keys = await f.redis.keys(`${f.keys.prefix}:*:${subject.id}|*`);
  if (keys.length > 0) await f.redis.del(...keys);
}

describe('hydration from the ledger', () => {
  it('a subject at its limit in the ledger stays denied after Redis lost its counter', async () => {
    const subject = f.subject();
    await ledgerSubject(subject, { gens: 100 });
    const d = await f.engine.consume({ subject, charges: [{ metric: 'gens', amount: 1 }] });
    expect(d).toMatchObject({ outcome: 'denied', reason: 'quota', metrics: [{ used: 100 }] });
  });

  it('concurrent gateways hydrating the same counter agree on one value', async () => {
    const subject = f.subject();
    await ledgerSubject(subject, { gens: 90 });
    const decisions = await Promise.all(Array.from({ length: 60 }, (_, i) => f.engines[i % 4]!.consume({ subject, charges: [{ metric: 'gens', amount: 1 }] })));
    expect(decisions.filter((d) => d.outcome === 'allowed')).toHaveLength(10);
    expect((await f.engine.usage(subject, ['gens']))[0]!.used).toBe(100);
  });

  it('rebuilds gauge levels and grant balances', async () => {
    const subject = f.subject();
    await ledgerSubject(subject, {}, { projects: 4 });
    await f.pool.query(
      `INSERT INTO grants (id, subject_id, metric, amount, remaining, expires_at, reason)
       VALUES ('g-live', $1, 'exports', 10, 3, NULL, 'promo'), ('g-gone', $1, 'exports', 10, 10, NULL, 'revoked')`,
      [subject.id],
    );
    await f.pool.query(`UPDATE grants SET revoked_at = now() WHERE id = 'g-gone'`);
    const usage = await f.engine.usage(subject, ['projects', 'exports']);
    expect(usage).toMatchObject([
      { metric: 'projects', used: 4, remaining: 1 },
      { metric: 'exports', used: 0, grantBalance: 3, remaining: 8 },
    ]);
  });

  it('never overwrites a live counter with the ledger value', async () => {
    const subject = f.subject();
    await ledgerSubject(subject, { gens: 50 });
    await f.engine.consume({ subject, charges: [{ metric: 'gens', amount: 1 }] });
    // The ledger lags behind Redis; Redis stays authoritative while it has the key.
    await f.pool.query('UPDATE usage_counters SET value = 0 WHERE subject_id = $1', [subject.id]);
    expect((await f.engine.usage(subject, ['gens']))[0]!.used).toBe(51);
  });

  it('hydrates again after the state is lost a second time', async () => {
    const subject = f.subject();
    await ledgerSubject(subject, { gens: 20 });
    await f.engine.consume({ subject, charges: [{ metric: 'gens', amount: 5 }] });
    await loseRedisState(subject);
    await f.pool.query('UPDATE usage_counters SET value = 25 WHERE subject_id = $1', [subject.id]);
    expect((await f.engine.usage(subject, ['gens']))[0]!.used).toBe(25);
  });

  it('a settle after the counter was lost hydrates it first, then applies the difference', async () => {
    const subject = f.subject();
    await ledgerSubject(subject, { tokens: 0 });
    const d = await f.engine.consume({ subject, charges: [{ metric: 'tokens', amount: 500, held: true }] });
    if (d.outcome !== 'allowed' || !d.hold) throw new Error('expected a hold');
    // The counter (not the hold) is evicted; the ledger has seen the reservation.
    await f.redis.del(f.keys.counter(subject.id, 'tokens', Date.parse(PERIOD)));
    await f.pool.query('UPDATE usage_counters SET value = 500 WHERE subject_id = $1', [subject.id]);
    await f.engine.settle(subject, d.hold, { tokens: 120 });
    expect((await f.engine.usage(subject, ['tokens']))[0]!.used).toBe(120);
  });
});
