import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { AdminDeps } from '../admin/admin-deps.js';
import { hashToken } from '../admin/admin-auth.js';
import { OutboxTail } from '../ledger/outbox-tail.js';
import { AuthInvalidation } from '../auth/auth-invalidation.js';
import { Authenticator } from '../auth/authenticator.js';
import { KeyMirror } from '../auth/key-mirror.js';
import { UsageTokenReader } from '../auth/usage-token-reader.js';
import { UsageWatch } from '../ledger/usage-watch.js';
import { KeyStore } from '../auth/key-store.js';
import type { Env } from '../config/env.js';
import type { Policy } from '../config/policy.js';
import { createPool } from '../db/pool.js';
import { createApp, type AppDeps } from './app.js';
import type { GatewaySettings } from '../http/gateway-deps.js';
import { LedgerWriter } from '../ledger/ledger-writer.js';
import { UsageHistory } from '../history/usage-history.js';
import { NewPeriodFallback } from '../ledger/new-period-fallback.js';
import { PgHydrator } from '../ledger/pg-hydrator.js';
import { systemClock, type Clock } from '../lib/clock.js';
import { postgresTagged } from '../observability/backend-error.js';
import { Metrics } from '../observability/metrics.js';
import { Settlements } from '../proxy/settlements.js';
import { UpstreamClient } from '../proxy/upstream-client.js';
import { QuotaEngine } from '../quota/engine.js';
import type { Hydrator } from '../quota/hydration.js';
import { KeySchema } from '../redis/keys.js';
import { RedisClockOffset } from '../redis/clock-offset.js';
import { connectRedis, createRedisClient, openRedis, pingAll, socketOf, type RedisClient } from '../redis/client.js';
import { RideAlong } from '../redis/ride-along.js';
import { Scripts } from '../redis/scripts/registry.js';
import { SubjectStore } from '../subjects/subject-store.js';
import { jobQueue } from '../jobs/job-queue.js';

export interface GatewayOptions {
  env: Env;
  policy: Policy;
  logger: Logger;
  clock?: Clock;
}

export interface Gateway {
  /** Where it listens, e.g. http://127.0.0.1:8080. */
  readonly url: string;
  readonly deps: AppDeps;
  /** Stops accepting, lets in-flight requests and their settlements finish, then closes connections. */
  close(): Promise<void>;
}

/** While closing, how often connections whose last response has finished are closed. */
const IDLE_SWEEP_MS = 50;
/**
 * How long an idle client connection is kept. Above the idle timeout of the usual load
 * balancers (60 s): Node's default (5 s) lets a balancer reuse a connection the gateway is
 * closing, and its client gets a 502.
 */
const KEEP_ALIVE_TIMEOUT_MS = 65_000;

/** How long one readiness probe of a dependency may take. */
const PROBE_TIMEOUT_MS = 1_000;

const withTimeout = <T>(work: Promise<T>, ms: number): Promise<T> =>
  Promise.race([work, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timed out')), ms).unref())]);

const probe = (work: () => Promise<unknown>) =>
  withTimeout(work(), PROBE_TIMEOUT_MS).then(
    () => true,
    () => false,
  );

/** Everything the HTTP layer needs, built from the environment and open connections. */
export function gatewayDeps(
  env: Env,
  policy: Policy,
  redis: RedisClient,
  pool: Pool,
  /** Where lost Redis state comes from: the ledger (see `NewPeriodFallback`). */
  hydrator: Hydrator,
  logger: Logger,
  admin: AdminDeps,
  clock: Clock = systemClock,
  redisTime?: RedisClockOffset,
): AppDeps {
  const metrics = new Metrics();
  const settings: GatewaySettings = {
    maxBodyBytes: env.QG_MAX_BODY_BYTES,
    idempotencyMaxResponseBytes: env.QG_IDEMPOTENCY_MAX_RESPONSE_BYTES,
    upgradeUrl: env.QG_UPGRADE_URL,
    holdTtlMs: env.QG_RESERVATION_TTL_SECONDS * 1000,
    usageTokenSecret: env.QG_USAGE_TOKEN_SECRET ?? null,
    corsOrigins: env.QG_CORS_ORIGINS ?? [],
  };
  // The ends of requests go to Redis with the next decision (src/redis/ride-along.ts). Not
  // on a Cluster: there a subject's commands go to its node, so they rarely share a write.
  const rideAlong = new RideAlong(() => socketOf(redis), env.QG_REDIS_CLUSTER ? 0 : env.QG_SETTLE_WAIT_MS);
  const engine = new QuotaEngine({
    redis,
    scripts: new Scripts(redis, rideAlong),
    keys: new KeySchema(env.QG_KEY_PREFIX, env.QG_PARTITIONS),
    policy,
    // Tagged so a failing hydration counts as a Postgres error, not a Redis one.
    hydrator: postgresTagged(hydrator),
    clock,
    // A decision that reaches Redis after the gateway stopped waiting (it answered 503) is refused, never applied;
    // one applied whose reply came too late is voided by its request id.
    redisTime,
    onVoid: ({ requestId, outcome, error }) => {
      metrics.voids.inc({ outcome });
      if (outcome === 'voided') logger.warn({ requestId }, 'a decision applied but answered too late was given back');
      if (outcome === 'gave_up') logger.error({ err: error, requestId }, 'a decision whose reply never arrived could not be voided; it stays charged');
    },
    options: {
      decisionTimeoutMs: env.QG_REDIS_COMMAND_TIMEOUT_MS,
      voidWindowMs: env.QG_DECISION_VOID_WINDOW_SECONDS * 1000,
      idempotencyTtlMs: env.QG_IDEMPOTENCY_TTL_SECONDS * 1000,
      holdTtlMs: settings.holdTtlMs,
      counterGraceMs: env.QG_COUNTER_GRACE_SECONDS * 1000,
    },
  });
  return {
    policy,
    engine,
    admin,
    authenticator: new Authenticator(
      admin.keys,
      { ttlMs: env.QG_AUTH_CACHE_TTL_MS, negativeTtlMs: Math.min(2_000, env.QG_AUTH_CACHE_TTL_MS), maxEntries: 100_000 },
      admin.keyMirror,
      clock,
    ),
    usageTokens: settings.usageTokenSecret === null ? null : new UsageTokenReader(settings.usageTokenSecret, admin.subjects, clock, env.QG_AUTH_CACHE_TTL_MS),
    usageWatch: new UsageWatch(admin.outboxTail),
    upstream: new UpstreamClient(),
    settlements: new Settlements(() => metrics.settlementFailures.inc(), rideAlong),
    metrics,
    logger,
    clock,
    settings,
    history: new UsageHistory(pool, clock, logger),
    readiness: async () => {
      const [redisUp, postgresUp] = await Promise.all([probe(() => pingAll(redis)), probe(() => pool.query('SELECT 1'))]);
      const scripts = redisUp && (await probe(async () => (await engine.scripts.loaded()) || Promise.reject(new Error('not loaded'))));
      return { redis: redisUp, scripts, postgres: postgresUp };
    },
  };
}

/** Connects to Redis and Postgres and serves the gateway on HOST:PORT. */
export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const { env, policy, logger } = options;
  const redis = createRedisClient(env, { name: 'quotagate-gateway', commandTimeoutMs: env.QG_REDIS_COMMAND_TIMEOUT_MS, logger });
  const pool = createPool(env.DATABASE_URL, {
    applicationName: 'quotagate-gateway',
    // Hydration and key lookups are on the request path: fail fast rather than queue.
    connectionTimeoutMs: 2_000,
    statementTimeoutMs: 5_000,
    onError: (err) => logger.warn({ err: err.message }, 'postgres idle connection error'),
  });
  const redisTime = new RedisClockOffset(redis);
  // The admin API's connections: one for the job queue (BullMQ waits for its connection,
  // which the request-path client must never do), one subscribed to key revocations.
  const jobsRedis = openRedis(env, { connectionName: 'quotagate-gateway-jobs', maxRetriesPerRequest: 1 });
  const subscriber = openRedis(env, { connectionName: 'quotagate-gateway-revocations', maxRetriesPerRequest: null });
  jobsRedis.on('error', () => {}); // reconnects; a failed job add answers 503
  const channel = AuthInvalidation.channelOf(env.QG_KEY_PREFIX);
  const clock = options.clock ?? systemClock;
  const keys = new KeySchema(env.QG_KEY_PREFIX, env.QG_PARTITIONS);
  const keyMirror = new KeyMirror({ redis, pool, keys, clock }, env.QG_AUTH_STALE_SECONDS * 1000);
  const admin: AdminDeps = {
    pool,
    subjects: new SubjectStore(pool),
    keys: new KeyStore(pool),
    keyMirror,
    invalidation: new AuthInvalidation(redis, channel, logger, keyMirror),
    jobs: jobQueue(jobsRedis, env.QG_KEY_PREFIX),
    ledger: new LedgerWriter(pool, env.QG_IDEMPOTENCY_TTL_SECONDS * 1000),
    adminTokenHash: env.ADMIN_TOKEN === undefined ? null : hashToken(env.ADMIN_TOKEN),
    webhookSecrets: {
      quotagate: env.WEBHOOK_SECRET === undefined ? null : [env.WEBHOOK_SECRET],
      stripe: env.STRIPE_WEBHOOK_SECRET ?? null,
      paddle: env.PADDLE_WEBHOOK_SECRET ?? null,
    },
    // Its blocking reads get connections of their own (one per partition on a Cluster), opened only while a dashboard listens.
    outboxTail: new OutboxTail(() => openRedis(env, { connectionName: 'quotagate-gateway-feed', maxRetriesPerRequest: null }), keys, logger, env.QG_REDIS_CLUSTER),
  };
  const ledgerFallback = new NewPeriodFallback(new PgHydrator(pool), redis, keys, clock);
  const deps = gatewayDeps(env, policy, redis, pool, ledgerFallback, logger, admin, clock, redisTime);
  const invalidate = (subjectId?: string) => {
    deps.authenticator.invalidate(subjectId);
    deps.usageTokens?.invalidate(subjectId);
  };
  const unsubscribe = AuthInvalidation.subscribe(subscriber, channel, { invalidate }, logger);
  // A Redis that restarts (or that was down at start) comes back with an empty script cache
  // and without its partitions' intact marks: load and write them on every (re)connect, or
  // readiness ("scripts loaded") stays false. Requests do not wait for this: EVALSHA falls
  // back to EVAL on NOSCRIPT.
  const prepareRedis = () => Promise.all([deps.engine.scripts.preload(), ledgerFallback.markAll()]);
  if (await connectRedis(redis, logger)) await prepareRedis();
  redisTime.start();
  redis.on('ready', () => {
    prepareRedis().catch((err: Error) => logger.warn({ err: err.message }, 'could not load the Redis scripts or intact marks; retrying on the next reconnect'));
  });

  const app = createApp(deps);
  const server: ServerType = serve({ fetch: app.fetch, hostname: env.HOST, port: env.PORT });
  await once(server, 'listening');
  // headersTimeout above keepAliveTimeout, or Node may cut a reused connection's next request.
  Object.assign(server, { keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS, headersTimeout: KEEP_ALIVE_TIMEOUT_MS + 1_000 });
  const { port } = server.address() as AddressInfo;
  const url = `http://${env.HOST.includes(':') ? `[${env.HOST}]` : env.HOST}:${port}`;
  logger.info({ url, routes: policy.routes.length }, 'gateway listening');

  let closing: Promise<void> | undefined;
  return {
    url,
    deps,
    close: () =>
      (closing ??= (async () => {
        // Dashboard feeds and usage streams never end by themselves: end them, or their connections hold close() open.
        admin.outboxTail.close();
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        // Idle keep-alive sockets would hold close() open until their clients drop them;
        // requests in flight still finish, and their sockets are closed as they go idle.
        const closeIdle = () => (server as { closeIdleConnections?: () => void }).closeIdleConnections?.();
        closeIdle();
        const sweep = setInterval(closeIdle, IDLE_SWEEP_MS);
        await closed;
        clearInterval(sweep);
        await deps.settlements.idle();
        await deps.engine.voids.idle();
        await deps.upstream.close();
        redisTime.stop();
        unsubscribe();
        await admin.jobs.close().catch(() => {});
        jobsRedis.disconnect();
        redis.disconnect();
        await pool.end();
      })()),
  };
}
