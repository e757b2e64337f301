import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditedContext } from '../../src/audit/audited-events.js';
import { migrate } from '../../src/db/migrate.js';
import { replayDeadLetter } from '../../src/ledger/dead-letters.js';
import { LedgerWriter } from '../../src/ledger/ledger-writer.js';
import type { SubjectRef } from '../../src/quota/types.js';
import type { WorkerHandle } from '../../src/worker/worker.js';
import { createEngineFixture, type EngineFixture } from '../support/engine.js';
import { startGatewayFixture, type GatewayFixture } from '../support/gateway.js';
import { allowed, compareLedger, inChunks, ledgerEventCount, startTestWorker, waitFor, waitForDrain } from '../support/ledger-checks.js';
import { createScratchDatabase, databaseUrl, redisUrl } from '../support/services.js';

/**
 * SPEC invariant 13, second half: an event the ledger refuses is set aside with its error,
 * never blocking the rest of its partition (issue: one reason holding U+0000 stopped a
 * partition's whole outbox). One partition here, so every event shares the bad one's stream.
 */

const OTHERS = 30;
const CONSUMES = 8;
const sum = (ns: readonly number[]) => ns.reduce((a, b) => a + b, 0);

async function deadLetterCount(worker: WorkerHandle, state: string): Promise<number> {
  const { values } = await worker.metrics.deadLetters.get();
  return sum(values.filter((v) => v.labels.state === state).map((v) => v.value));
}

describe('text Postgres cannot store, on the run database', () => {
  let f: EngineFixture;
  let worker: WorkerHandle;

  beforeAll(async () => {
    f = await createEngineFixture({ connections: 4, partitions: 1 });
    worker = await startTestWorker({ keys: f.keys, redisUrl: redisUrl(), databaseUrl: databaseUrl(), clock: f.clock });
  });
  afterAll(async () => {
    await worker?.close();
    await f?.close();
  });

  it('is written with U+FFFD, its original kept as a sanitised dead letter; the partition flushes on, and everything balances', async () => {
    const others: SubjectRef[] = Array.from({ length: OTHERS }, (_, i) => f.subject(`${f.keys.prefix}.other${i}`));
    const victim = f.subject(`${f.keys.prefix}.victim`);
    const consumes = (subjects: readonly SubjectRef[]) =>
      subjects.flatMap((s) => Array.from({ length: CONSUMES }, (_, i) => () => f.engines[i % 4]!.consume({ subject: s, charges: [{ metric: 'gens', amount: 1 }] }).then(allowed)));
    await f.engine.consume({ subject: victim, charges: [{ metric: 'gens', amount: 5 }] }).then(allowed);

    // Paths that skip the edge's validation (the engine takes any context): an adjust whose
    // reason holds U+0000 and a reset whose reason holds a lone surrogate, among hundreds
    // of consumes of other subjects in the same outbox partition.
    await inChunks(consumes(others.slice(0, OTHERS / 2)), 200);
    const adjusted = await f.engine.adjust(victim, 'gens', 3, auditedContext('usage.adjusted', { actor: 'admin:test', reason: 'refund \u0000 ticket' }));
    const reset = await f.engine.reset(victim, ['tokens'], auditedContext('usage.reset', { actor: 'admin:test', reason: 'oops \ud800' }));
    await inChunks(consumes(others.slice(OTHERS / 2)), 200);
    expect(adjusted).toEqual({ value: 8, applied: 3 });
    expect(reset).toEqual([{ metric: 'tokens', previous: 0 }]);

    await waitForDrain(f.redis, f.keys);
    expect(
      await ledgerEventCount(
        f.pool,
        others.map((s) => s.id),
      ),
    ).toBe(OTHERS * CONSUMES);

    const { rows: letters } = await f.pool.query<{ kind: string; state: string; error: string; sqlstate: string; event: string }>(
      'SELECT kind, state, error, sqlstate, event FROM ledger_dead_letters WHERE subject_id = $1 ORDER BY kind',
      [victim.id],
    );
    expect(letters.map((l) => [l.kind, l.state])).toEqual([
      ['adjust', 'sanitised'],
      ['reset', 'sanitised'],
    ]);
    for (const l of letters) expect(l.sqlstate).toMatch(/^22/);
    // The original, exactly: the escapes are still there in the stored JSON text.
    expect(letters[0]!.event).toContain('refund \\u0000 ticket');
    expect(letters[1]!.event).toContain('oops \\ud800');

    // In the ledger with the text replaced: counters, the audit entries, the events.
    const { rows: audits } = await f.pool.query<{ action: string; reason: string }>('SELECT action, reason FROM audit_log WHERE subject_id = $1 ORDER BY id', [victim.id]);
    expect(audits.map((a) => a.action).sort()).toEqual(['usage.adjusted', 'usage.reset']);
    expect(audits.map((a) => a.reason).sort()).toEqual(['oops \uFFFD', 'refund \uFFFD ticket']);
    const { mismatches, rows } = await compareLedger(f.pool, f.redis, f.keys, [victim.id, ...others.map((s) => s.id)]);
    expect(mismatches).toEqual([]);
    expect(rows.find((r) => r.subject === victim.id && r.metric === 'gens')!.counter).toBe(8);

    expect(await deadLetterCount(worker, 'sanitised')).toBe(2);
    const { rows: notified } = await f.pool.query<{ threshold: string; payload: { state: string } }>(
      "SELECT threshold, payload FROM notifications WHERE kind = 'dead_letter' AND subject_id = $1",
      [victim.id],
    );
    expect(notified).toHaveLength(2);
    for (const n of notified) expect(n.payload.state).toBe('sanitised');
  });

  it('an event refused for anything else (an instant before 4713 BC) is parked, out of the ledger; a replay is refused again', async () => {
    const subject = `${f.keys.prefix}.far-future`;
    const event = { id: `${subject}-evt:1`, k: 'consume', s: subject, m: 'gens', p: null, d: 1, v: 1, t: -9e15, x: {}, c: {} };
    await f.redis.xadd(f.keys.outbox(0), '*', 'e', JSON.stringify(event));
    const other = f.subject(`${f.keys.prefix}.after-far-future`);
    await f.engine.consume({ subject: other, charges: [{ metric: 'gens', amount: 1 }] }).then(allowed);
    await waitForDrain(f.redis, f.keys);
    expect(await ledgerEventCount(f.pool, [other.id])).toBe(1);
    const { rows } = await f.pool.query<{ state: string; sqlstate: string }>('SELECT state, sqlstate FROM ledger_dead_letters WHERE subject_id = $1', [subject]);
    expect(rows).toEqual([{ state: 'parked', sqlstate: '22008' }]);
    expect(await ledgerEventCount(f.pool, [subject])).toBe(0);
    expect(await deadLetterCount(worker, 'parked')).toBe(1);

    // Each time it is met again counts (a busy worker may have read the entry twice already).
    const attempts = async () => (await f.pool.query<{ state: string; attempts: number }>('SELECT state, attempts FROM ledger_dead_letters WHERE event_id = $1', [event.id])).rows;
    const [before] = await attempts();
    const outcome = await replayDeadLetter(f.pool, new LedgerWriter(f.pool, 86_400_000), event.id, { actor: 'admin:test', reason: null });
    expect(outcome).toMatchObject({ outcome: 'refused', sqlstate: '22008' });
    expect(await attempts()).toEqual([{ state: 'parked', attempts: before!.attempts + 1 }]);
  });
});

describe('parked by a database rule, replayed through the admin API once mended', () => {
  let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;
  let pool: pg.Pool;
  let f: EngineFixture;
  let worker: WorkerHandle;
  let gw: GatewayFixture;

  beforeAll(async () => {
    scratch = await createScratchDatabase();
    await migrate(scratch.url, { log: () => {} });
    pool = new pg.Pool({ connectionString: scratch.url, max: 4 });
    f = await createEngineFixture({ partitions: 1 });
    worker = await startTestWorker({ keys: f.keys, redisUrl: redisUrl(), databaseUrl: scratch.url, clock: f.clock });
    gw = await startGatewayFixture({ env: { DATABASE_URL: scratch.url } });
  });
  afterAll(async () => {
    await gw?.close();
    await worker?.close();
    await f?.close();
    await pool?.end();
    await scratch?.drop();
  });

  it('parks the refused events, flushes the rest, and a replay writes each once', async () => {
    const blocked = f.subject(`${f.keys.prefix}.blocked`);
    const others = Array.from({ length: 10 }, (_, i) => f.subject(`${f.keys.prefix}.free${i}`));
    // A rule of the operator's that the ledger's events break (mended below by dropping it).
    await pool.query(`ALTER TABLE usage_events ADD CONSTRAINT refuse_blocked CHECK (subject_id <> '${blocked.id}') NOT VALID`);

    await inChunks(
      [blocked, ...others].flatMap((s) => Array.from({ length: 3 }, () => () => f.engine.consume({ subject: s, charges: [{ metric: 'gens', amount: 2 }] }).then(allowed))),
      50,
    );
    await waitForDrain(f.redis, f.keys);
    expect(
      await ledgerEventCount(
        pool,
        others.map((s) => s.id),
      ),
    ).toBe(30);
    expect(await ledgerEventCount(pool, [blocked.id])).toBe(0);
    expect(
      (
        await compareLedger(
          pool,
          f.redis,
          f.keys,
          others.map((s) => s.id),
        )
      ).mismatches,
    ).toEqual([]);

    const list = await gw.admin('/admin/v1/dead-letters?state=parked');
    expect(list.status).toBe(200);
    const { items } = (await list.json()) as { items: { event_id: string; subject: string; state: string; sqlstate: string; event: { subjectId: string } }[] };
    expect(items).toHaveLength(3);
    for (const item of items) expect(item).toMatchObject({ subject: blocked.id, state: 'parked', sqlstate: '23514', event: { subjectId: blocked.id } });
    const [first, ...rest] = items.map((i) => i.event_id) as [string, ...string[]];

    // Not mended yet: refused again, still parked.
    const refused = await gw.admin(`/admin/v1/dead-letters/${encodeURIComponent(first)}/replay`, { method: 'POST' });
    expect(refused.status).toBe(422);
    expect(await refused.json()).toMatchObject({ code: 'ledger_refused', sqlstate: '23514' });

    await pool.query('ALTER TABLE usage_events DROP CONSTRAINT refuse_blocked');
    // Five replays of one letter at once: exactly one writes it.
    const statuses = await Promise.all(
      Array.from({ length: 5 }, () =>
        gw.admin(`/admin/v1/dead-letters/${encodeURIComponent(first)}/replay`, { method: 'POST' }).then(async (r) => (await r.arrayBuffer(), r.status)),
      ),
    );
    expect(statuses.sort()).toEqual([200, 409, 409, 409, 409]);
    const all = await gw.admin('/admin/v1/dead-letters/replay', { method: 'POST' });
    expect(await all.json()).toEqual({ replayed: expect.arrayContaining(rest), refused: [], more: false });

    expect(await ledgerEventCount(pool, [blocked.id])).toBe(3);
    expect((await compareLedger(pool, f.redis, f.keys, [blocked.id])).mismatches).toEqual([]);
    const { rows: states } = await pool.query('SELECT DISTINCT state FROM ledger_dead_letters');
    expect(states).toEqual([{ state: 'replayed' }]);
    const { rows: audits } = await pool.query("SELECT count(*)::int AS n FROM audit_log WHERE action = 'ledger.dead_letter_replayed' AND subject_id = $1", [blocked.id]);
    expect(audits).toEqual([{ n: 3 }]);
    await waitFor('the parked notifications', async () => (await deadLetterCount(worker, 'parked')) === 3);
  });
});
