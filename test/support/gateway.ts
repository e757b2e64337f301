import type { Pool } from 'pg';
import { KeyStore } from '../../src/auth/key-store.js';
import { loadEnv } from '../../src/config/env.js';
import { parsePolicy } from '../../src/config/load-policy.js';
import type { Policy, PolicyInput } from '../../src/config/policy.js';
import type { Clock } from '../../src/lib/clock.js';
import { startDemoUpstream, type DemoUpstream } from '../../src/demo/upstream.js';
import { startGateway, type Gateway } from '../../src/gateway/gateway.js';
import { createLogger } from '../../src/observability/logger.js';
import { KeySchema } from '../../src/redis/keys.js';
import { openRedis } from '../../src/redis/client.js';
import type { RedisClient } from '../../src/redis/client.js';
import { SubjectStore } from '../../src/subjects/subject-store.js';
import { readOutboxEvents, type OutboxEvent } from './outbox.js';
import { cleanupPrefix, createTestPool, databaseUrl, redisUrl, uniquePrefix } from './services.js';

/**
 * A policy for gateway tests, every route pointing at the demo upstream. `test` has no
 * request rate or concurrency limit so that concurrency tests measure quota alone.
 */
export const gatewayTestPolicy = (upstream: string): PolicyInput => ({
  metrics: {
    gens: { kind: 'counter' },
    tokens: { kind: 'counter' },
    exports: { kind: 'counter' },
    projects: { kind: 'gauge' },
  },
  plans: {
    test: { limits: { gens: 50, tokens: 1200, exports: 5, projects: 5 } },
    limited: { limits: { gens: 1000, tokens: 100_000, exports: 1000, projects: 100 }, rate: { rps: 5, burst: 5 }, concurrency: 2 },
    unlimited: { limits: { gens: null, tokens: null, exports: null, projects: null } },
  },
  default_plan: 'test',
  routes: [
    {
      name: 'chat',
      match: { method: 'POST', path: '/v1/chat/completions' },
      upstream,
      charge: [
        { metric: 'gens', amount: 1 },
        { metric: 'tokens', reserve: { from: 'body.max_tokens', default: 100 }, settle: { from: 'response.usage.total_tokens' } },
      ],
      timeout_ms: 5_000,
    },
    { name: 'export', match: { method: 'POST', path: '/v1/exports' }, upstream, charge: [{ metric: 'exports', amount: 1 }], timeout_ms: 500 },
    { name: 'create-project', match: { method: 'POST', path: '/v1/projects' }, upstream, charge: [{ metric: 'projects', amount: 1 }] },
    { name: 'delete-project', match: { method: 'DELETE', path: '/v1/projects/:id' }, upstream, release: [{ metric: 'projects', amount: 1 }] },
    { name: 'list-projects', match: { method: 'GET', path: '/v1/projects' }, upstream, when_redis_down: 'open' },
  ],
});

/** The admin token and webhook secret of every gateway fixture. */
export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789';
export const TEST_WEBHOOK_SECRET = 'test-webhook-secret-0123456789';

export interface TestSubject {
  id: string;
  plan: string;
  /** An API key of the subject. */
  key: string;
}

export interface GatewayFixture {
  readonly url: string;
  readonly gateway: Gateway;
  readonly upstream: DemoUpstream;
  /** A client of the gateway's Redis, for inspecting keys and the outbox. */
  readonly redis: RedisClient;
  readonly keys: KeySchema;
  readonly pool: Pool;
  readonly policy: Policy;
  /** The Redis URL it uses. */
  readonly redisUrl: string;
  createSubject(options?: { plan?: string; id?: string }): Promise<TestSubject>;
  /** fetch() against the gateway, with the subject's key as a Bearer token when given. */
  request(path: string, init?: RequestInit & { key?: string; json?: unknown }): Promise<Response>;
  /** request() with the admin token. */
  admin(path: string, init?: RequestInit & { json?: unknown }): Promise<Response>;
  /** A metric's current usage as the engine sees it (the current period for counters). */
  used(subject: TestSubject, metric: string): Promise<number>;
  events(subject: TestSubject): Promise<OutboxEvent[]>;
  /** Waits until every settlement, refund and release started so far has finished. */
  settled(): Promise<void>;
  close(): Promise<void>;
}

let subjects = 0;

/**
 * A real gateway on a loopback port, started the way production starts it (startGateway
 * with an Env), in front of a demo upstream, on the run's Redis (own key prefix) and
 * database. `redisUrl` points it at another Redis (a private one a test may stop); `clock`
 * is the gateway's clock (decisions, periods, history), by default the system's.
 */
export async function startGatewayFixture(
  options: { policy?: (upstreamUrl: string) => PolicyInput; env?: Record<string, string>; redisUrl?: string; clock?: Clock } = {},
): Promise<GatewayFixture> {
  const upstream = await startDemoUpstream();
  const policy = parsePolicy((options.policy ?? gatewayTestPolicy)(upstream.url));
  // Two gateways of one deployment share a prefix (pass QG_KEY_PREFIX in env).
  const prefix = options.env?.QG_KEY_PREFIX ?? uniquePrefix('gw');
  const env = loadEnv({
    REDIS_URL: options.redisUrl ?? redisUrl(),
    DATABASE_URL: databaseUrl(),
    QG_KEY_PREFIX: prefix,
    HOST: '127.0.0.1',
    PORT: '0',
    // Tests check what is decided, not how fast: with every file running at once on a busy
    // machine, the production default (250 ms) would turn slow decisions into 503s.
    // Outage tests set the production value themselves.
    QG_REDIS_COMMAND_TIMEOUT_MS: '5000',
    ADMIN_TOKEN: TEST_ADMIN_TOKEN,
    WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
    ...options.env,
  });
  const logger = createLogger(process.env.QG_TEST_LOG_LEVEL ?? 'silent');
  const gateway = await startGateway({ env, policy, logger, clock: options.clock });
  const redis = openRedis(env, { maxRetriesPerRequest: 1 });
  const keys = new KeySchema(env.QG_KEY_PREFIX, env.QG_PARTITIONS);
  const pool = createTestPool();
  const subjectStore = new SubjectStore(pool);
  const keyStore = new KeyStore(pool);

  const fixture: GatewayFixture = {
    url: gateway.url,
    gateway,
    upstream,
    redis,
    keys,
    pool,
    policy,
    redisUrl: env.REDIS_URL,
    async createSubject({ plan = 'test', id = `gw-${process.pid}-${++subjects}-${Date.now().toString(36)}` } = {}) {
      await subjectStore.create({ id, plan });
      const { secret } = await keyStore.create(id);
      return { id, plan, key: secret };
    },
    request(path, { key, json, headers, ...init } = {}) {
      const h = new Headers(headers);
      if (key !== undefined) h.set('authorization', `Bearer ${key}`);
      if (json !== undefined) h.set('content-type', 'application/json');
      return fetch(`${gateway.url}${path}`, { ...init, headers: h, body: json !== undefined ? JSON.stringify(json) : init.body });
    },
    admin(path, init = {}) {
      return fixture.request(path, { ...init, key: TEST_ADMIN_TOKEN });
    },
    async used(subject, metric) {
      const [usage] = await gateway.deps.engine.usage({ id: subject.id, plan: subject.plan, anchor: null }, [metric]);
      return usage!.used;
    },
    events: (subject) => readOutboxEvents(redis, keys, subject.id),
    settled: () => gateway.deps.settlements.idle(),
    async close() {
      await gateway.close();
      await upstream.close();
      // A private Redis may be stopped by now; its keys die with it.
      await cleanupPrefix(redis, prefix).catch(() => {});
      redis.disconnect();
      await pool.end();
    },
  };
  return fixture;
}
