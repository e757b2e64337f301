import { Socket } from 'node:net';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import { applyCommandDeadline } from './command-deadline.js';

/** A connection to one Redis server, or to a Cluster: every module takes either. */
export type RedisClient = Redis | Cluster;

/** Where Redis is: one server, or a node of a Cluster (the other nodes are discovered). */
export interface RedisTarget {
  REDIS_URL: string;
  QG_REDIS_CLUSTER: boolean;
}

/**
 * Every Redis client of quotagate is made here, so a deployment is a single server or a
 * Cluster by configuration alone (QG_REDIS_CLUSTER). `options` are per connection; on a
 * Cluster the ones ioredis keeps at cluster level (offline queue, lazy connect, retry
 * strategy) go there and the rest apply to every node's connection.
 */
export function openRedis(target: RedisTarget, options: RedisOptions = {}): RedisClient {
  if (!target.QG_REDIS_CLUSTER) return new Redis(target.REDIS_URL, options);
  const { enableOfflineQueue, lazyConnect, retryStrategy, ...nodeOptions } = options;
  const seed = new URL(target.REDIS_URL);
  return new Cluster([{ host: seed.hostname, port: Number(seed.port || 6379) }], {
    enableOfflineQueue,
    lazyConnect,
    clusterRetryStrategy: retryStrategy,
    // Nodes found through CLUSTER SLOTS are bare host:port: the seed URL's credentials and TLS apply to all.
    redisOptions: {
      username: seed.username ? decodeURIComponent(seed.username) : undefined,
      password: seed.password ? decodeURIComponent(seed.password) : undefined,
      tls: seed.protocol === 'rediss:' ? {} : undefined,
      ...nodeOptions,
    },
  });
}

/** The masters of a Cluster (where the data is), or the one server. */
export function masterNodes(redis: RedisClient): Redis[] {
  return redis instanceof Cluster ? redis.nodes('master') : [redis];
}

/** The socket of a single server's connection, while it has one; undefined on a Cluster (a socket per node). */
export function socketOf(redis: RedisClient): Socket | undefined {
  return redis instanceof Redis && redis.stream instanceof Socket ? redis.stream : undefined;
}

/** PINGs every master: a Cluster is up only when each node holding slots answers. */
export async function pingAll(redis: RedisClient): Promise<void> {
  const nodes = masterNodes(redis);
  if (nodes.length === 0) throw new Error('no Redis Cluster node is known yet');
  await Promise.all(nodes.map((node) => node.ping()));
}

export interface RedisClientOptions {
  /** Shown by CLIENT LIST; tells operators which process holds a connection. */
  name: string;
  /** Upper bound on one command, so an unresponsive Redis costs a bounded wait. */
  commandTimeoutMs: number;
  logger: Logger;
}

/**
 * A client for the request path. While Redis is unreachable, commands fail at once instead
 * of queueing (no offline queue, no per-request retries): the caller answers 503 or fails
 * open within the command timeout, never after seconds of hanging. Reconnection goes on in
 * the background, so decisions resume by themselves when Redis returns.
 */
export function createRedisClient(target: RedisTarget, opts: RedisClientOptions): RedisClient {
  const redis = openRedis(target, {
    connectionName: opts.name,
    connectTimeout: Math.max(1_000, opts.commandTimeoutMs),
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: (attempt) => Math.min(100 * attempt, 2_000),
    lazyConnect: true,
  });
  // Not ioredis's commandTimeout, which can fail a command whose reply has already arrived.
  applyCommandDeadline(redis, opts.commandTimeoutMs);
  // Without a listener, ioredis reports every failed reconnect as an unhandled error.
  let down = false;
  redis.on('error', (err: Error) => {
    if (!down) opts.logger.warn({ err: err.message }, 'redis connection error; reconnecting');
    down = true;
  });
  redis.on('ready', () => {
    if (down) opts.logger.info('redis connection restored');
    down = false;
  });
  return redis;
}

/** Connects, but a Redis that is down at start is not fatal: the client keeps retrying. */
export async function connectRedis(redis: RedisClient, logger: Logger): Promise<boolean> {
  try {
    await redis.connect();
    return true;
  } catch (err) {
    logger.warn({ err: (err as Error).message }, 'redis is not reachable yet; starting anyway and retrying in the background');
    return false;
  }
}
