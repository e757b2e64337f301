import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { periodAt } from '../../src/lib/period.js';
import type { SubjectRef } from '../../src/quota/types.js';
import type { WorkerHandle } from '../../src/worker/worker.js';
import { createEngineFixture, type EngineFixture } from '../support/engine.js';
import { startTestWorker, waitForDrain } from '../support/ledger-checks.js';
import { databaseUrl, redisUrl } from '../support/services.js';

let f: EngineFixture;
let worker: WorkerHandle;
let n = 0;

beforeAll(async () => {
  f = await createEngineFixture({ connections: 2 });
  worker = await startTestWorker({ keys: f.keys, redisUrl: redisUrl(), databaseUrl: databaseUrl(), clock: f.clock });
});
afterAll(async () => {
  await worker?.close();
  await f?.close();
});

const subject = (): SubjectRef => f.subject(`reconcile-${process.pid}-${++n}-${Date.now().toString(36)}`);
const counterKey = (s: SubjectRef, metric: string) => f.keys.counter(s.id, metric, periodAt(f.clock.now()).start);

async function consume(s: SubjectRef, metric: string, times: number): Promise<void> {
  await Promise.all(Array.from({ length: times }, (_, i) => f.engines[i % 2]!.consume({ subject: s, charges: [{ metric, amount: 1 }] })));
}

const drained = () => waitForDrain(f.redis, f.keys);

describe('reconciliation', () => {
  it('reports a planted drift, repairs Redis when it is behind, and only reports it when ahead', async () => {
    const s = subject();
    await consume(s, 'gens', 10);
    await consume(s, 'exports', 3);
    await drained();
    // Plant: gens lost 4 units in Redis (behind the ledger), exports gained 2 (ahead).
    await f.redis.decrby(counterKey(s, 'gens'), 4);
    await f.redis.incrby(counterKey(s, 'exports'), 2);

    // The scheduled run may come first; runs take turns, so the units are added once.
    await worker.reconcile('manual');
    expect(Number(await f.redis.get(counterKey(s, 'gens')))).toBe(10);
    expect(Number(await f.redis.get(counterKey(s, 'exports')))).toBe(5);

    const { rows } = await f.pool.query(
      `SELECT DISTINCT r.status, d.metric, d.redis_value, d.ledger_value, d.action
         FROM reconciliation_runs r JOIN reconciliation_drifts d ON d.run_id = r.id
        WHERE d.subject_id = $1 ORDER BY d.metric`,
      [s.id],
    );
    expect(rows).toEqual([
      { status: 'finished', metric: 'exports', redis_value: '5', ledger_value: '3', action: 'reported' },
      { status: 'finished', metric: 'gens', redis_value: '6', ledger_value: '10', action: 'repaired' },
    ]);
    const { rows: notified } = await f.pool.query(`SELECT DISTINCT metric FROM notifications WHERE kind = 'drift' AND subject_id = $1 ORDER BY metric`, [s.id]);
    expect(notified).toEqual([{ metric: 'exports' }, { metric: 'gens' }]);

    // Redis is still ahead: the next run reports it again but does not notify it again.
    await worker.reconcile('manual');
    const { rows: reports } = await f.pool.query(`SELECT count(*)::int AS n FROM reconciliation_drifts WHERE subject_id = $1 AND metric = 'exports'`, [s.id]);
    expect(reports[0].n).toBeGreaterThanOrEqual(2);
    const { rows: notifications } = await f.pool.query(`SELECT count(*)::int AS n FROM notifications WHERE kind = 'drift' AND subject_id = $1 AND metric = 'exports'`, [s.id]);
    expect(notifications[0].n).toBe(1);
  });

  it('finds no drift while decisions keep running during the comparison', async () => {
    const s = subject();
    await consume(s, 'gens', 5);
    await drained();
    // 300 decisions race the run; each lands either before or after its snapshot.
    const [report] = await Promise.all([worker.reconcile('manual'), consume(s, 'gens', 90), consume(s, 'tokens', 200)]);
    expect(report.drifts.filter((d) => d.subjectId === s.id)).toEqual([]);
    expect(report.compared).toBeGreaterThan(0);
  });
});

describe('duplicate charges under one Idempotency-Key', () => {
  const charge = (s: SubjectRef, key: string) => f.engine.consume({ subject: s, charges: [{ metric: 'gens', amount: 1 }], idempotency: { key, fingerprint: 'same-request' } });
  /** What a Redis wipe does to one key's record: the next retry is charged again. */
  const forget = (s: SubjectRef, key: string) => f.redis.del(f.keys.idempotency(s.id, key));

  it('are detected by the ledger and refunded by reconciliation', async () => {
    const s = subject();
    expect((await charge(s, 'order-1')).outcome).toBe('allowed');
    expect((await charge(s, 'order-1')).outcome).toBe('replayed');
    await forget(s, 'order-1');
    const second = await charge(s, 'order-1');
    expect(second.outcome).toBe('allowed');
    expect(Number(await f.redis.get(counterKey(s, 'gens')))).toBe(2);
    await drained();

    const run = await worker.reconcile('manual');
    const mine = run.duplicates.filter((d) => d.subjectId === s.id);
    expect(mine).toEqual([{ requestId: second.outcome === 'allowed' ? second.requestId : '', subjectId: s.id, refunded: { gens: 1 } }]);
    expect(Number(await f.redis.get(counterKey(s, 'gens')))).toBe(1);
    await drained();
    const { rows: adjust } = await f.pool.query(`SELECT metric, delta::int, context->>'actor' AS actor FROM usage_events WHERE subject_id = $1 AND kind = 'adjust'`, [s.id]);
    expect(adjust).toEqual([{ metric: 'gens', delta: -1, actor: 'reconciliation' }]);
    const { rows: audit } = await f.pool.query(`SELECT actor, action, details->>'delta' AS delta FROM audit_log WHERE subject_id = $1`, [s.id]);
    expect(audit).toEqual([{ actor: 'reconciliation', action: 'usage.duplicate_refunded', delta: '-1' }]);
    // Resolved once: a later run leaves it alone.
    expect((await worker.reconcile('manual')).duplicates.filter((d) => d.subjectId === s.id)).toEqual([]);
  });

  it('ignore a key reused after the idempotency window, as Redis does', async () => {
    const s = subject();
    await charge(s, 'order-2');
    await forget(s, 'order-2');
    f.clock.advance(25 * 3_600_000);
    await charge(s, 'order-2');
    await drained();
    const { rows } = await f.pool.query('SELECT 1 FROM ledger_duplicates WHERE subject_id = $1', [s.id]);
    expect(rows).toEqual([]);
  });
});

describe('reservation expiry', () => {
  it('releases a reservation past its deadline, with an expire event', async () => {
    const s = subject();
    const decision = await f.engine.consume({ subject: s, charges: [{ metric: 'tokens', amount: 300, held: true }], holdTtlMs: 60_000 });
    expect(decision.outcome).toBe('allowed');
    expect(Number(await f.redis.get(counterKey(s, 'tokens')))).toBe(300);

    f.clock.advance(61_000);
    await worker.enqueue('expire');
    for (let waited = 0; waited < 20_000 && Number(await f.redis.get(counterKey(s, 'tokens'))) !== 0; waited += 50) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(Number(await f.redis.get(counterKey(s, 'tokens')))).toBe(0);
    await drained();
    const { rows } = await f.pool.query(`SELECT kind, delta::int FROM usage_events WHERE subject_id = $1 ORDER BY event_id`, [s.id]);
    expect(rows).toEqual([
      { kind: 'consume', delta: 300 },
      { kind: 'expire', delta: -300 },
    ]);
  });
});
