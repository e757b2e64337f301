import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QuotaEngine } from '../../src/quota/engine.js';
import type { SubjectRef } from '../../src/quota/types.js';
import { createEngineFixture, ledgerSums, type EngineFixture } from '../support/engine.js';

let f: EngineFixture;
beforeAll(async () => {
  f = await createEngineFixture({ connections: 4 });
});
afterAll(() => f.close());

/** A deterministic pseudo-random sequence, so a failure can be replayed. */
function random(seed: number) {
  return () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };
}

async function step(engine: QuotaEngine, subject: SubjectRef, roll: number, amount: number): Promise<void> {
  if (roll < 0.35) {
    await engine.consume({
      subject,
      charges: [
        { metric: 'gens', amount },
        { metric: 'tokens', amount: amount * 10 },
      ],
    });
  } else if (roll < 0.55) {
    const d = await engine.consume({
      subject,
      charges: [
        { metric: 'tokens', amount: amount * 20, held: true },
        { metric: 'gens', amount: 1, held: true },
      ],
    });
    if (d.outcome !== 'allowed' || !d.hold) return;
    if (roll < 0.45) await engine.settle(subject, d.hold, { tokens: amount * 7 });
    else await engine.returnHold(subject.id, d.hold, 'refund');
  } else if (roll < 0.7) {
    await engine.consume({ subject, charges: [{ metric: 'projects', amount: 1 }] });
  } else if (roll < 0.8) {
    await engine.release(subject, 'projects', amount);
  } else if (roll < 0.87) {
    await engine.grant(subject, { metric: 'gens', amount, expiresAt: null }, {});
  } else if (roll < 0.93) {
    await engine.adjust(subject, 'tokens', amount % 2 === 0 ? amount : -amount * 5, {});
  } else {
    await engine.reset(subject, ['gens'], {});
  }
}

describe('the outbox', () => {
  it('holds exactly one uniquely identified event per change: the event sums equal the counters', async () => {
    const subjects = Array.from({ length: 20 }, () => f.subject());
    const next = random(42);
    await Promise.all(
      Array.from({ length: 1500 }, (_, i) => {
        const roll = next();
        const amount = 1 + Math.floor(next() * 5);
        return step(f.engines[i % 4]!, subjects[i % subjects.length]!, roll, amount);
      }),
    );
    const ids = new Set<string>();
    for (const subject of subjects) {
      const events = await f.events(subject.id);
      for (const e of events) {
        expect(ids.has(e.id)).toBe(false);
        ids.add(e.id);
      }
      const sums = ledgerSums(events);
      const usage = await f.engine.usage(subject, ['gens', 'tokens', 'projects']);
      for (const u of usage) expect({ metric: u.metric, used: u.used }).toEqual({ metric: u.metric, used: sums[u.metric] ?? 0 });
    }
    expect(ids.size).toBeGreaterThan(1500);
  });
});
