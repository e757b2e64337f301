import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngineFixture, type EngineFixture } from '../support/engine.js';

let f: EngineFixture;
beforeAll(async () => {
  f = await createEngineFixture({ connections: 4 });
});
afterAll(() => f.close());

describe('idempotency keys', () => {
  it('charges once when the same key arrives 500 times at once; the rest replay the first decision', async () => {
    const subject = f.subject();
    const idempotency = { key: 'order-42', fingerprint: 'consume:gens=3' };
    const decisions = await Promise.all(Array.from({ length: 500 }, (_, i) => f.engines[i % 4]!.consume({ subject, charges: [{ metric: 'gens', amount: 3 }], idempotency })));
    const allowed = decisions.filter((d) => d.outcome === 'allowed');
    const replayed = decisions.filter((d) => d.outcome === 'replayed');
    expect(allowed).toHaveLength(1);
    expect(replayed).toHaveLength(499);
    for (const r of replayed) {
      if (r.outcome !== 'replayed') continue;
      expect(r.original.requestId).toBe(allowed[0]!.outcome === 'allowed' && allowed[0]!.requestId);
      expect(r.original.metrics[0]).toMatchObject({ used: 3, remaining: 97 });
    }
    expect((await f.engine.usage(subject, ['gens']))[0]!.used).toBe(3);
    expect((await f.events(subject.id)).filter((e) => e.kind === 'consume')).toHaveLength(1);
  });

  it('answers a mismatch when the key comes back with another request', async () => {
    const subject = f.subject();
    await f.engine.consume({ subject, charges: [{ metric: 'gens', amount: 1 }], idempotency: { key: 'k', fingerprint: 'amount=1' } });
    const d = await f.engine.consume({ subject, charges: [{ metric: 'gens', amount: 2 }], idempotency: { key: 'k', fingerprint: 'amount=2' } });
    expect(d).toEqual({ outcome: 'idempotency_mismatch' });
    expect((await f.engine.usage(subject, ['gens']))[0]!.used).toBe(1);
  });

  it('scopes keys to the subject', async () => {
    const [a, b] = [f.subject(), f.subject()];
    const idempotency = { key: 'same', fingerprint: 'x' };
    expect((await f.engine.consume({ subject: a, charges: [{ metric: 'gens', amount: 1 }], idempotency })).outcome).toBe('allowed');
    expect((await f.engine.consume({ subject: b, charges: [{ metric: 'gens', amount: 1 }], idempotency })).outcome).toBe('allowed');
  });

  it('answers in-flight while a held request is open, and replays with the stored response after settle', async () => {
    const subject = f.subject();
    const idempotency = { key: 'gen-1', fingerprint: 'chat' };
    const charges = [{ metric: 'gens', amount: 1, held: true }];
    const first = await f.engine.consume({ subject, charges, idempotency, holdTtlMs: 60_000 });
    if (first.outcome !== 'allowed' || !first.hold) throw new Error('expected an allowed decision with a hold');
    expect(await f.engine.consume({ subject, charges, idempotency, holdTtlMs: 60_000 })).toEqual({ outcome: 'idempotency_in_flight' });
    await f.engine.settle(subject, first.hold, {}, { response: '{"answer":42}' });
    const again = await f.engine.consume({ subject, charges, idempotency, holdTtlMs: 60_000 });
    expect(again).toMatchObject({ outcome: 'replayed', response: '{"answer":42}', original: { requestId: first.requestId } });
    expect((await f.engine.usage(subject, ['gens']))[0]!.used).toBe(1);
  });

  it('forgets the key when the held request is refunded, so a retry is decided afresh', async () => {
    const subject = f.subject();
    const idempotency = { key: 'gen-2', fingerprint: 'chat' };
    const charges = [{ metric: 'gens', amount: 1, held: true }];
    const first = await f.engine.consume({ subject, charges, idempotency });
    if (first.outcome !== 'allowed' || !first.hold) throw new Error('expected a hold');
    await f.engine.returnHold(subject.id, first.hold, 'refund');
    const retry = await f.engine.consume({ subject, charges, idempotency });
    expect(retry.outcome).toBe('allowed');
    expect((await f.engine.usage(subject, ['gens']))[0]!.used).toBe(1);
  });

  it('does not store denials: a denied key can succeed after the limit is raised', async () => {
    const subject = f.subject();
    const idempotency = { key: 'big', fingerprint: 'gens=101' };
    expect((await f.engine.consume({ subject, charges: [{ metric: 'gens', amount: 101 }], idempotency })).outcome).toBe('denied');
    const raised = { ...subject, overrides: { gens: 200 } };
    expect((await f.engine.consume({ subject: raised, charges: [{ metric: 'gens', amount: 101 }], idempotency })).outcome).toBe('allowed');
  });

  it('replays a gauge release instead of releasing twice', async () => {
    const subject = f.subject();
    await f.engine.consume({ subject, charges: [{ metric: 'projects', amount: 3 }] });
    const idempotency = { key: 'delete-p1', fingerprint: 'projects=1' };
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => f.engines[i % 4]!.release(subject, 'projects', 1, { idempotency })));
    expect(results.filter((r) => r.outcome === 'released')).toHaveLength(1);
    expect(results.filter((r) => r.outcome === 'replayed')).toHaveLength(19);
    expect((await f.engine.usage(subject, ['projects']))[0]!.used).toBe(2);
    expect(await f.engine.release(subject, 'projects', 2, { idempotency: { key: 'delete-p1', fingerprint: 'projects=2' } })).toEqual({
      outcome: 'idempotency_mismatch',
    });
  });
});
