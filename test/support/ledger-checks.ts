import type { Pool } from 'pg';
import { loadEnv, type Env } from '../../src/config/env.js';
import { parsePolicy } from '../../src/config/load-policy.js';
import type { Policy } from '../../src/config/policy.js';
import { decodeLedgerEvent, USAGE_KINDS } from '../../src/ledger/ledger-event.js';
import type { Clock } from '../../src/lib/clock.js';
import { createLogger } from '../../src/observability/logger.js';
import type { KeySchema } from '../../src/redis/keys.js';
import type { Allowed, Decision, SubjectRef } from '../../src/quota/types.js';
import type { RedisClient } from '../../src/redis/client.js';
import { startWorker, type WorkerHandle } from '../../src/worker/worker.js';
import { testPolicy, type EngineFixture } from './engine.js';

/**
 * Checks shared by the ledger tests (test/ledger/*): waiting for the outbox to drain,
 * reading what the scripts emitted, and comparing the ledger with usage_counters and Redis.
 */

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns a truthy value (returned) or `timeoutMs` passes (throws, naming `what`). */
export async function waitFor<T>(what: string, check: () => Promise<T> | T, timeoutMs = 30_000, everyMs = 25): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Runs `tasks` in chunks of `size`, each chunk all at once (Promise.all); results in task order. */
export async function inChunks<T>(tasks: readonly (() => Promise<T>)[], size = 500): Promise<T[]> {
  const results: T[] = [];
  for (let i = 0; i < tasks.length; i += size) results.push(...(await Promise.all(tasks.slice(i, i + size).map((t) => t()))));
  return results;
}

/** XLEN of every outbox stream of the schema's prefix, by partition. */
export async function outboxLengths(redis: RedisClient, keys: KeySchema): Promise<number[]> {
  return Promise.all(Array.from({ length: keys.partitions }, (_, p) => redis.xlen(keys.outbox(p))));
}

export const outboxTotal = async (redis: RedisClient, keys: KeySchema): Promise<number> => (await outboxLengths(redis, keys)).reduce((a, b) => a + b, 0);

/** Waits until every outbox stream of the prefix is empty (XLEN 0); the error says what is left where. */
export async function waitForDrain(redis: RedisClient, keys: KeySchema, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lengths = await outboxLengths(redis, keys);
    if (lengths.every((n) => n === 0)) return;
    if (Date.now() > deadline) {
      const left = lengths.flatMap((n, p) => (n > 0 ? [`p${p}=${n}`] : [])).join(', ');
      throw new Error(`the outbox of "${keys.prefix}" did not drain within ${timeoutMs} ms; entries left: ${left}`);
    }
    await sleep(50);
  }
}

/** Every event id in the prefix's outbox streams right now, by subject. */
export async function outboxEventIds(redis: RedisClient, keys: KeySchema): Promise<Map<string, string[]>> {
  const bySubject = new Map<string, string[]>();
  for (let p = 0; p < keys.partitions; p++) {
    for (const [streamId, fields] of await redis.xrange(keys.outbox(p), '-', '+')) {
      const e = decodeLedgerEvent(streamId, fields);
      const list = bySubject.get(e.subjectId) ?? [];
      list.push(e.id);
      bySubject.set(e.subjectId, list);
    }
  }
  return bySubject;
}

/** The ledger's event ids of these subjects: per subject, the row count and the ids. */
export async function ledgerEventIds(pool: Pool, subjectIds: readonly string[]): Promise<Map<string, string[]>> {
  const { rows } = await pool.query<{ subject_id: string; event_id: string }>('SELECT subject_id, event_id FROM usage_events WHERE subject_id = ANY($1::text[])', [subjectIds]);
  const bySubject = new Map<string, string[]>();
  for (const r of rows) {
    const list = bySubject.get(r.subject_id) ?? [];
    list.push(r.event_id);
    bySubject.set(r.subject_id, list);
  }
  return bySubject;
}

/** Rows of usage_events of these subjects. */
export async function ledgerEventCount(pool: Pool, subjectIds: readonly string[]): Promise<number> {
  const { rows } = await pool.query<{ n: string }>('SELECT count(*) AS n FROM usage_events WHERE subject_id = ANY($1::text[])', [subjectIds]);
  return Number(rows[0]!.n);
}

/** Sorts each subject's ids, for an order-independent comparison with toEqual. */
export function sortedIds(bySubject: Map<string, string[]>): Record<string, string[]> {
  return Object.fromEntries([...bySubject.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([s, ids]) => [s, [...ids].sort()]));
}

export interface LedgerRow {
  subject: string;
  metric: string;
  /** Period start ms; null for gauges. */
  period: number | null;
  /** SUM(delta) of the usage-moving events in usage_events; null when there are none. */
  ledger: number | null;
  /** usage_counters.value; null when there is no row. */
  counter: number | null;
  /** The Redis counter or gauge; null when the key is missing. */
  redis: number | null;
}

/**
 * For every subject, metric and period that has usage-moving events or a usage_counters
 * row: the ledger's SUM(delta), usage_counters.value and the Redis value. `mismatches` is
 * every row where the three are not the same number.
 */
export async function compareLedger(pool: Pool, redis: RedisClient, keys: KeySchema, subjectIds: readonly string[]): Promise<{ rows: LedgerRow[]; mismatches: LedgerRow[] }> {
  const { rows } = await pool.query<{ subject_id: string; metric: string; period_ms: string | null; ledger: string | null; counter: string | null }>(
    `WITH e AS (
       SELECT subject_id, metric, coalesce(period_start, '-infinity') AS period_start, sum(delta) AS ledger
         FROM usage_events
        WHERE subject_id = ANY($1::text[]) AND kind = ANY($2::text[])
        GROUP BY 1, 2, 3),
     c AS (
       SELECT subject_id, metric, period_start, value FROM usage_counters WHERE subject_id = ANY($1::text[]))
     SELECT coalesce(e.subject_id, c.subject_id) AS subject_id,
            coalesce(e.metric, c.metric) AS metric,
            CASE WHEN coalesce(e.period_start, c.period_start) = '-infinity' THEN NULL
                 ELSE (extract(epoch FROM coalesce(e.period_start, c.period_start)) * 1000)::bigint END AS period_ms,
            e.ledger, c.value AS counter
       FROM e FULL JOIN c
         ON c.subject_id = e.subject_id AND c.metric = e.metric AND c.period_start = e.period_start
      ORDER BY 1, 2, 3`,
    [subjectIds, [...USAGE_KINDS]],
  );
  const redisValues = await Promise.all(
    rows.map((r) => redis.get(r.period_ms === null ? keys.gauge(r.subject_id, r.metric) : keys.counter(r.subject_id, r.metric, Number(r.period_ms)))),
  );
  const num = (v: string | null) => (v === null ? null : Number(v));
  const all: LedgerRow[] = rows.map((r, i) => ({
    subject: r.subject_id,
    metric: r.metric,
    period: num(r.period_ms),
    ledger: num(r.ledger),
    counter: num(r.counter),
    redis: num(redisValues[i] ?? null),
  }));
  return { rows: all, mismatches: all.filter((r) => r.ledger === null || r.ledger !== r.counter || r.ledger !== r.redis) };
}

/**
 * Environment for a worker (in-process via loadEnv, or a child process) flushing the
 * outbox of `keys` on `redisUrl` into `databaseUrl`: fast flushes, a short claim idle.
 */
export function workerEnvVars(keys: KeySchema, redisUrl: string, databaseUrl: string, overrides: Record<string, string> = {}): Record<string, string> {
  return {
    REDIS_URL: redisUrl,
    DATABASE_URL: databaseUrl,
    QG_KEY_PREFIX: keys.prefix,
    QG_PARTITIONS: String(keys.partitions),
    QG_FLUSH_INTERVAL_MS: '50',
    QG_FLUSH_CLAIM_IDLE_MS: '1000',
    LOG_LEVEL: 'silent',
    ...overrides,
  };
}

export const workerEnv = (...args: Parameters<typeof workerEnvVars>): Env => loadEnv(workerEnvVars(...args));

/**
 * A worker in this process (src/worker/worker.ts) for the outbox of `keys`, with the test
 * policy; pass the engine fixture's clock so its housekeeping jobs see the fixture's time.
 */
export function startTestWorker(options: {
  keys: KeySchema;
  redisUrl: string;
  databaseUrl: string;
  clock?: Clock;
  env?: Record<string, string>;
  /** Default: the engine tests' policy. */
  policy?: Policy;
}): Promise<WorkerHandle> {
  return startWorker({
    env: workerEnv(options.keys, options.redisUrl, options.databaseUrl, options.env),
    policy: options.policy ?? parsePolicy(testPolicy),
    logger: createLogger('silent'),
    clock: options.clock,
  });
}

/** The decision, which must be `allowed` (throws with the decision otherwise). */
export function allowed(d: Decision): Allowed {
  if (d.outcome !== 'allowed') throw new Error(`expected an allowed decision, got ${JSON.stringify(d)}`);
  return d;
}

/**
 * A mixed workload on the test policy, as tasks (for inChunks) that each resolve to the
 * number of ledger events they made the scripts emit. Per subject: `gens` consumes of 1
 * gens (one task each, all allowed), then one task of 6 exports consumes (the plan allows
 * 5: one denial), and one task that moves usage down as well: 3 projects created and 1
 * released, a held tokens charge refunded and another settled from 100 to 40.
 * Every hold is ended, so no expiry can add events later.
 */
export function mixedWorkload(f: EngineFixture, subjects: readonly SubjectRef[], gens: number): (() => Promise<number>)[] {
  const tasks: (() => Promise<number>)[] = [];
  subjects.forEach((subject, s) => {
    const engine = (i: number) => f.engines[(s + i) % f.engines.length]!;
    for (let i = 0; i < gens; i++) {
      tasks.push(async () => (allowed(await engine(i).consume({ subject, charges: [{ metric: 'gens', amount: 1 }] })), 1));
    }
    tasks.push(async () => {
      for (let i = 0; i < 6; i++) {
        const d = await engine(i).consume({ subject, charges: [{ metric: 'exports', amount: 1 }] });
        if (d.outcome !== (i < 5 ? 'allowed' : 'denied')) throw new Error(`exports #${i + 1} of ${subject.id}: ${d.outcome}`);
      }
      return 6;
    });
    tasks.push(async () => {
      const e = engine(0);
      for (let i = 0; i < 3; i++) allowed(await e.consume({ subject, charges: [{ metric: 'projects', amount: 1 }] }));
      const released = await e.release(subject, 'projects', 1);
      if (released.outcome !== 'released' || released.released !== 1) throw new Error(`release of ${subject.id}: ${JSON.stringify(released)}`);
      const refunded = allowed(await e.consume({ subject, charges: [{ metric: 'tokens', amount: 100, held: true }] }));
      const settled = allowed(await e.consume({ subject, charges: [{ metric: 'tokens', amount: 100, held: true }] }));
      if ((await e.returnHold(subject.id, refunded.hold!, 'refund')).outcome !== 'ended') throw new Error(`refund of ${subject.id} did not end its hold`);
      if ((await e.settle(subject, settled.hold!, { tokens: 40 })).outcome !== 'ended') throw new Error(`settle of ${subject.id} did not end its hold`);
      return 3 + 1 + 2 + 2;
    });
  });
  return tasks;
}

/** Events per subject of mixedWorkload(…, gens). */
export const mixedWorkloadEvents = (gens: number): number => gens + 6 + 8;
