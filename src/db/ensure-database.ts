import { Client, escapeIdentifier } from 'pg';

/** Postgres: "database does not exist". */
const INVALID_CATALOG_NAME = '3D000';

/**
 * Creates the database DATABASE_URL names when the server has no such database yet, by way
 * of the server's `postgres` maintenance database. Returns true when it created it.
 */
export async function ensureDatabase(databaseUrl: string): Promise<boolean> {
  try {
    await query(databaseUrl, 'SELECT 1');
    return false;
  } catch (err) {
    if ((err as { code?: string }).code !== INVALID_CATALOG_NAME) throw err;
  }
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.slice(1));
  url.pathname = '/postgres';
  try {
    await query(url.toString(), `CREATE DATABASE ${escapeIdentifier(name)}`);
  } catch (err) {
    // Another process created it first.
    if ((err as { code?: string }).code !== '42P04') throw err;
  }
  return true;
}

async function query(url: string, sql: string): Promise<void> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5_000, application_name: 'quotagate-setup' });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
