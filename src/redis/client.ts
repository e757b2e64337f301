import { Redis } from 'ioredis';
import type { Logger } from 'pino';

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
export function createRedisClient(url: string, opts: RedisClientOptions): Redis {
  const redis = new Redis(url, {
    connectionName: opts.name,
    commandTimeout: opts.commandTimeoutMs,
    connectTimeout: Math.max(1_000, opts.commandTimeoutMs),
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: (attempt) => Math.min(100 * attempt, 2_000),
    lazyConnect: true,
  });
  // Without a listener, ioredis reports every failed reconnect as an unhandled error.
  let down = false;
  redis.on('error', (err) => {
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
export async function connectRedis(redis: Redis, logger: Logger): Promise<boolean> {
  try {
    await redis.connect();
    return true;
  } catch (err) {
    logger.warn({ err: (err as Error).message }, 'redis is not reachable yet; starting anyway and retrying in the background');
    return false;
  }
}
