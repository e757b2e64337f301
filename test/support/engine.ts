import { Redis } from 'ioredis';
import type { Pool } from 'pg';
import { parsePolicy } from '../../src/config/load-policy.js';
import type { PolicyInput } from '../../src/config/policy.js';
import { PgHydrator } from '../../src/ledger/pg-hydrator.js';
import { ManualClock } from '../../src/lib/clock.js';
import { QuotaEngine } from '../../src/quota/engine.js';
import type { EngineOptions } from '../../src/quota/engine-context.js';
import { KeySchema } from '../../src/redis/keys.js';
import type { SubjectRef } from '../../src/quota/types.js';
import { readOutboxEvents, type OutboxEvent } from './outbox.js';
import { cleanupPrefix, createTestPool, redisUrl, uniquePrefix } from './services.js';
import { T0 } from './test-time.js';

export { ledgerSums, type OutboxEvent } from './outbox.js';
export { T0 } from './test-time.js';

/** A policy small enough to exhaust in a test. */
export const testPolicy: PolicyInput = {
  metrics: {
    gens: { kind: 'counter' },
    tokens: { kind: 'counter' },
    exports: { kind: 'counter' },
    projects: { kind: 'gauge' },
  },
  plans: {
    test: { limits: { gens: 100, tokens: 1200, exports: 5, projects: 5 }, rate: { rps: 10, burst: 10 }, concurrency: 3 },
    unlimited: { limits: { gens: null, tokens: null, exports: null, projects: null } },
  },
  default_plan: 'test',
};

export interface EngineFixture {
  /** One engine per Redis connection: several "gateways" deciding concurrently. */
  engines: QuotaEngine[];
  engine: QuotaEngine;
  redis: Redis;
  keys: KeySchema;
  pool: Pool;
  clock: ManualClock;
  subject(id?: string, plan?: string): SubjectRef;
  /** Outbox events of a subject, oldest first, with fields decoded. */
  events(subjectId: string): Promise<OutboxEvent[]>;
  close(): Promise<void>;
}

let subjects = 0;

export async function createEngineFixture(
  options: { connections?: number; policy?: PolicyInput; partitions?: number; engineOptions?: Partial<EngineOptions>; url?: string } = {},
): Promise<EngineFixture> {
  const prefix = uniquePrefix('engine');
  const keys = new KeySchema(prefix, options.partitions ?? 16);
  const policy = parsePolicy(options.policy ?? testPolicy);
  const clock = new ManualClock(T0);
  const pool = createTestPool();
  const hydrator = new PgHydrator(pool);
  const clients = Array.from({ length: options.connections ?? 1 }, () => new Redis(options.url ?? redisUrl(), { lazyConnect: false }));
  const engines = clients.map((redis) => new QuotaEngine({ redis, keys, policy, hydrator, clock, options: options.engineOptions }));
  const redis = clients[0]!;
  return {
    engines,
    engine: engines[0]!,
    redis,
    keys,
    pool,
    clock,
    subject: (id = `subject-${process.pid}-${++subjects}`, plan = 'test') => ({ id, plan, anchor: null }),
    events: (subjectId) => readOutboxEvents(redis, keys, subjectId),
    async close() {
      await cleanupPrefix(redis, prefix);
      await Promise.all(clients.map((c) => c.quit()));
      await pool.end();
    },
  };
}
