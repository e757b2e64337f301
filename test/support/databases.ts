import { randomBytes } from 'node:crypto';
import { Client, escapeIdentifier } from 'pg';

/**
 * Throwaway databases on a shared server. Names carry their creation time
 * (`qg_test_<base36 seconds>_<random>`) so a later run can sweep what a crashed run left.
 */
const NAME_PATTERN = /^qg_test_([0-9a-z]+)_[0-9a-f]+$/;

export function newDatabaseName(): string {
  const seconds = Math.floor(Date.now() / 1000).toString(36);
  return `qg_test_${seconds}_${randomBytes(4).toString('hex')}`;
}

/** The same server and credentials as `serverUrl`, another database. */
export function databaseUrlFor(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${encodeURIComponent(database)}`;
  return url.toString();
}

async function withClient<T>(serverUrl: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: serverUrl, connectionTimeoutMillis: 5_000, application_name: 'quotagate-tests' });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export async function createDatabase(serverUrl: string, name: string): Promise<string> {
  await withClient(serverUrl, (c) => c.query(`CREATE DATABASE ${escapeIdentifier(name)}`));
  return databaseUrlFor(serverUrl, name);
}

/** How long a drop waits for sessions that are closing to be gone. */
const CLOSING_SESSIONS_WAIT_MS = 2_000;

/**
 * FORCE ends sessions still connected (a test's leaked pool must not keep it alive). It
 * first waits a little for sessions that are on their way out: pg's `pool.end()` resolves
 * once its clients have sent their goodbye, not once the server has closed them, and a
 * session FORCE terminates in between reaches its client as an error nobody listens to.
 */
export async function dropDatabase(serverUrl: string, name: string): Promise<void> {
  await withClient(serverUrl, async (c) => {
    for (const deadline = Date.now() + CLOSING_SESSIONS_WAIT_MS; Date.now() < deadline;) {
      const { rows } = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [name]);
      if (rows[0]!.n === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    await c.query(`DROP DATABASE IF EXISTS ${escapeIdentifier(name)} WITH (FORCE)`);
  });
}

/** Drops test databases older than `maxAgeMs` (left by runs that were killed); returns their names. */
export async function sweepStaleDatabases(serverUrl: string, maxAgeMs = 6 * 3_600_000): Promise<string[]> {
  const cutoff = (Date.now() - maxAgeMs) / 1000;
  const { rows } = await withClient(serverUrl, (c) => c.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE 'qg\\_test\\_%'`));
  const stale = rows
    .map((r) => r.datname)
    .filter((name) => {
      const created = NAME_PATTERN.exec(name)?.[1];
      return created !== undefined && parseInt(created, 36) < cutoff;
    });
  for (const name of stale) await dropDatabase(serverUrl, name);
  return stale;
}
