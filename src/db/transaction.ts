import type { Pool, PoolClient } from 'pg';

/** A pool or a client inside a transaction: whatever runs a query. */
export type Queryable = Pool | PoolClient;

/**
 * Runs `work` in one transaction on a client of its own: COMMIT when it resolves,
 * ROLLBACK when it throws. Work that decides against its change (a refused downgrade)
 * throws, or returns and lets the commit write nothing.
 */
export async function inTransaction<T>(pool: Pool, work: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  // A connection lost mid-transaction would otherwise be an unhandled 'error' event.
  const onError = () => {};
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.removeListener('error', onError);
    client.release();
  }
}
