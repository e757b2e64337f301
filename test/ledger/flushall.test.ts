import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SubjectRef } from '../../src/quota/types.js';
import type { WorkerHandle } from '../../src/worker/worker.js';
import { createEngineFixture, type EngineFixture } from '../support/engine.js';
import { compareLedger, inChunks, startTestWorker, waitForDrain } from '../support/ledger-checks.js';
import { startPrivateRedis, type PrivateRedis } from '../support/redis-server.js';
import { databaseUrl } from '../support/services.js';

/**
 * SPEC invariant 10: Redis is a cache of the ledger. A Redis that loses everything
 * (FLUSHALL here; a restart without persistence or a failover alike) hands out no fresh
 * quota: the engine rebuilds counters, gauges and grant balances from Postgres before it
 * decides, and the worker keeps moving the new events into the ledger.
 */

let server: PrivateRedis;
let f: EngineFixture;
let worker: WorkerHandle | undefined;

beforeAll(async () => {
  server = await startPrivateRedis();
  f = await createEngineFixture({ url: server.url, partitions: 4 });
  worker = await startTestWorker({ keys: f.keys, redisUrl: server.url, databaseUrl: databaseUrl(), clock: f.clock });
});
afterAll(async () => {
  await worker?.close();
  await f?.close();
  await server?.dispose();
});

/** A subject of this file, also in `subjects` (grants reference it). */
async function newSubject(name: string): Promise<SubjectRef> {
  const subject = f.subject(`${f.keys.prefix}.${name}`);
  await f.pool.query('INSERT INTO subjects (id, plan) VALUES ($1, $2)', [subject.id, subject.plan]);
  return subject;
}

async function consumeOne(subject: SubjectRef, metric: string) {
  return f.engine.consume({ subject, charges: [{ metric, amount: 1 }] });
}

describe('Redis loses everything (FLUSHALL) after the worker flushed', () => {
  it('rebuilds counters, gauge levels and grant balances from the ledger, so no fresh quota is handed out', async () => {
    const atLimit = await newSubject('at-limit');
    const granted = await newSubject('granted');

    // 100/100 gens, projects at 3 (4 created, 1 deleted).
    const gens = await inChunks(Array.from({ length: 100 }, () => () => consumeOne(atLimit, 'gens')));
    expect(gens.every((d) => d.outcome === 'allowed')).toBe(true);
    for (let i = 0; i < 4; i++) expect((await consumeOne(atLimit, 'projects')).outcome).toBe('allowed');
    expect(await f.engine.release(atLimit, 'projects', 1)).toMatchObject({ outcome: 'released', level: 3 });

    // exports: the plan's 5, then 4 drawn from a grant of 10.
    const grant = await f.engine.grant(granted, { metric: 'exports', amount: 10, expiresAt: null }, { reason: 'flushall test', actor: 'test' });
    expect(grant).toMatchObject({ balance: 10, created: true });
    for (let i = 0; i < 9; i++) expect((await consumeOne(granted, 'exports')).outcome).toBe('allowed');
    expect((await f.engine.usage(granted, ['exports']))[0]).toMatchObject({ used: 9, grantBalance: 6, remaining: 6 });

    await waitForDrain(f.redis, f.keys);
    const { rows: grantRows } = await f.pool.query('SELECT amount, remaining FROM grants WHERE id = $1', [grant.id]);
    expect(grantRows).toEqual([{ amount: '10', remaining: '6' }]);

    await f.redis.flushall();
    expect(await f.redis.dbsize()).toBe(0);

    // The next gen is denied: the counter came back as 100 from usage_counters.
    const denied = await consumeOne(atLimit, 'gens');
    expect(denied).toMatchObject({ outcome: 'denied', reason: 'quota', metric: 'gens', metrics: [{ used: 100, remaining: 0 }] });
    expect(await f.engine.usage(atLimit, ['gens', 'projects'])).toMatchObject([
      { metric: 'gens', used: 100, limit: 100, remaining: 0 },
      { metric: 'projects', used: 3, limit: 5, remaining: 2 },
    ]);
    // Two projects fit under the limit of 5, not five.
    expect((await consumeOne(atLimit, 'projects')).outcome).toBe('allowed');
    expect((await consumeOne(atLimit, 'projects')).outcome).toBe('allowed');
    expect(await consumeOne(atLimit, 'projects')).toMatchObject({ outcome: 'denied', reason: 'quota', metric: 'projects' });

    // The grant's balance came back as 6 from `grants`: 6 more exports, then denied.
    expect((await f.engine.usage(granted, ['exports']))[0]).toMatchObject({ used: 9, grantBalance: 6, remaining: 6 });
    for (let i = 0; i < 6; i++) expect((await consumeOne(granted, 'exports')).outcome).toBe('allowed');
    expect(await consumeOne(granted, 'exports')).toMatchObject({ outcome: 'denied', reason: 'quota', metric: 'exports' });
  });

  it('keeps flushing the events decided after the wipe with the same worker, and the ledger agrees with Redis', async () => {
    // Runs after the wipe above: its events (denials, projects, exports) are in the new
    // outbox streams, which the worker must find although their consumer group is gone.
    const subjectIds = [`${f.keys.prefix}.at-limit`, `${f.keys.prefix}.granted`];
    await waitForDrain(f.redis, f.keys);

    const { rows: kinds } = await f.pool.query<{ subject_id: string; kind: string; metric: string; n: string }>(
      `SELECT subject_id, kind, metric, count(*) AS n FROM usage_events WHERE subject_id = ANY($1) GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
      [subjectIds],
    );
    expect(kinds.map((r) => `${r.subject_id.slice(f.keys.prefix.length + 1)} ${r.kind} ${r.metric} ${r.n}`)).toEqual([
      'at-limit consume gens 100',
      'at-limit consume projects 6',
      'at-limit denied gens 1',
      'at-limit denied projects 1',
      'at-limit release projects 1',
      'granted consume exports 15',
      'granted denied exports 1',
      'granted grant exports 1',
    ]);
    const { rows: grantRows } = await f.pool.query('SELECT remaining FROM grants WHERE subject_id = $1', [subjectIds[1]]);
    expect(grantRows).toEqual([{ remaining: '0' }]);

    const { rows, mismatches } = await compareLedger(f.pool, f.redis, f.keys, subjectIds);
    expect(rows.map((r) => [r.metric, r.ledger])).toEqual([
      ['gens', 100],
      ['projects', 5],
      ['exports', 15],
    ]);
    expect(mismatches).toEqual([]);
  });
});
