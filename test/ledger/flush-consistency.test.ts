import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GAUGE_PERIOD } from '../../src/ledger/pg-hydrator.js';
import { periodAt } from '../../src/lib/period.js';
import type { SubjectRef } from '../../src/quota/types.js';
import type { WorkerHandle } from '../../src/worker/worker.js';
import { createEngineFixture, type EngineFixture } from '../support/engine.js';
import { inChunks, startTestWorker, waitForDrain } from '../support/ledger-checks.js';
import { databaseUrl, redisUrl } from '../support/services.js';

const SUBJECTS = 500;
const DECISIONS_PER_SUBJECT = 40;
const IN_FLIGHT = 400;

let f: EngineFixture;
let worker: WorkerHandle;

beforeAll(async () => {
  f = await createEngineFixture({ connections: 4 });
  // The fixture's clock: holds are due by its time, not the machine's.
  worker = await startTestWorker({ keys: f.keys, redisUrl: redisUrl(), databaseUrl: databaseUrl(), clock: f.clock });
});
afterAll(async () => {
  await worker?.close();
  await f?.close();
});

describe('the ledger under load, with the worker running', () => {
  it('holds every event of 20,000 decisions across 500 subjects exactly once, and its sums equal Redis and usage_counters', async () => {
    const subjects: SubjectRef[] = Array.from({ length: SUBJECTS }, (_, i) => f.subject(`ledger-${process.pid}-${i}`));
    let expectedEvents = 0;
    const count = (n: number) => {
      expectedEvents += n;
    };

    // Each subject gets a mix that moves counters and gauges up and down and hits limits
    // (8 exports against 5 per period), so denials and releases are in it.
    const tasks = subjects.flatMap((subject, s) =>
      Array.from({ length: DECISIONS_PER_SUBJECT }, (_, i) => async () => {
        const engine = f.engines[(s + i) % f.engines.length]!;
        switch (i % 10) {
          case 6: {
            const d = await engine.consume({ subject, charges: [{ metric: 'projects', amount: 1 }] });
            count(d.outcome === 'allowed' || d.outcome === 'denied' ? 1 : 0);
            break;
          }
          case 7: {
            const r = await engine.release(subject, 'projects', 1);
            count(r.outcome === 'released' && r.released > 0 ? 1 : 0);
            break;
          }
          case 8: {
            const d = await engine.consume({ subject, charges: [{ metric: 'tokens', amount: 50, held: true }] });
            count(1);
            if (d.outcome === 'allowed') {
              const settled = await engine.settle(subject, d.hold!, { tokens: 20 });
              count(settled.outcome === 'ended' ? 1 : 0);
            }
            break;
          }
          case 5:
          case 9: {
            const d = await engine.consume({ subject, charges: [{ metric: 'exports', amount: 1 }] });
            count(d.outcome === 'allowed' || d.outcome === 'denied' ? 1 : 0);
            break;
          }
          default: {
            const d = await engine.consume({ subject, charges: [{ metric: 'gens', amount: 1 }] });
            count(d.outcome === 'allowed' || d.outcome === 'denied' ? 1 : 0);
          }
        }
      }),
    );
    expect(tasks).toHaveLength(20_000);
    await inChunks(tasks, IN_FLIGHT);
    await waitForDrain(f.redis, f.keys, 60_000);

    const ids = subjects.map((s) => s.id);
    const { rows: totals } = await f.pool.query<{ events: string; distinct_ids: string; denied: string }>(
      `SELECT count(*) AS events, count(DISTINCT event_id) AS distinct_ids, count(*) FILTER (WHERE kind = 'denied') AS denied
         FROM usage_events WHERE subject_id = ANY($1)`,
      [ids],
    );
    expect(Number(totals[0]!.events)).toBe(expectedEvents);
    expect(Number(totals[0]!.distinct_ids)).toBe(expectedEvents);
    expect(Number(totals[0]!.denied)).toBeGreaterThan(0);

    // For every subject, metric and period: ledger sum == usage_counters == Redis.
    const { rows } = await f.pool.query<{ subject_id: string; metric: string; period: string; ledger: string; counter: string | null }>(
      `SELECT e.subject_id, e.metric, coalesce(e.period_start, '-infinity')::text AS period, sum(e.delta) AS ledger, c.value AS counter
         FROM usage_events e
         LEFT JOIN usage_counters c
           ON c.subject_id = e.subject_id AND c.metric = e.metric AND c.period_start = coalesce(e.period_start, '-infinity')
        WHERE e.subject_id = ANY($1) AND e.kind NOT IN ('denied', 'grant', 'grant_revoke')
        GROUP BY e.subject_id, e.metric, coalesce(e.period_start, '-infinity'), c.value`,
      [ids],
    );
    expect(rows.length).toBe(SUBJECTS * 4);
    const period = periodAt(f.clock.now()).start;
    const redisValues = await Promise.all(
      rows.map((r) => f.redis.get(r.period === GAUGE_PERIOD ? f.keys.gauge(r.subject_id, r.metric) : f.keys.counter(r.subject_id, r.metric, period))),
    );
    const mismatches = rows.map((r, i) => ({ ...r, redis: redisValues[i] })).filter((r) => Number(r.ledger) !== Number(r.counter) || Number(r.ledger) !== Number(r.redis ?? 0));
    expect(mismatches).toEqual([]);
  });
});
