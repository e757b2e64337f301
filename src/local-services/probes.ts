import { Redis } from 'ioredis';
import { Client } from 'pg';

/** Postgres: "database does not exist" — the server did answer. */
const INVALID_CATALOG_NAME = '3D000';

/** True when a Redis at `url` answers PING within `timeoutMs`. Never retries, never logs. */
export async function redisAnswers(url: string, timeoutMs: number): Promise<boolean> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  client.on('error', () => {}); // the failure is the answer
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/**
 * True when the PostgreSQL server of `url` accepts the connection within `timeoutMs`. A
 * missing database still counts (the server answered; ensureDatabase creates it).
 */
export async function postgresAnswers(url: string, timeoutMs: number): Promise<boolean> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: timeoutMs, query_timeout: timeoutMs });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch (err) {
    return (err as { code?: string }).code === INVALID_CATALOG_NAME;
  } finally {
    await client.end().catch(() => {});
  }
}
