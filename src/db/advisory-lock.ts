import type { Pool } from 'pg';

/**
 * Runs `work` while holding a Postgres session advisory lock named `name`, waiting for it
 * when another process holds it: one at a time across every worker process.
 */
export async function withAdvisoryLock<T>(pool: Pool, name: string, work: () => Promise<T>): Promise<T> {
  const client = await pool.connect();
  // A connection lost while held would otherwise be an unhandled 'error' event.
  const onError = () => {};
  client.on('error', onError);
  try {
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [name]);
    try {
      return await work();
    } finally {
      await client.query('SELECT pg_advisory_unlock(hashtext($1))', [name]).catch(() => {});
    }
  } finally {
    client.removeListener('error', onError);
    client.release();
  }
}
