import { Client } from 'pg';
import { describe, expect, it } from 'vitest';
import { databaseUrl } from '../../test/support/services.js';
import { createPool } from './pool.js';

describe('createPool', () => {
  it('names its connections and applies the statement timeout', async () => {
    const pool = createPool(databaseUrl(), { statementTimeoutMs: 200 });
    try {
      const { rows } = await pool.query<{ app: string; timeout: string }>(`SELECT current_setting('application_name') AS app, current_setting('statement_timeout') AS timeout`);
      expect(rows[0]).toEqual({ app: 'quotagate', timeout: '200ms' });
      await expect(pool.query('SELECT pg_sleep(2)')).rejects.toThrow(/statement timeout/);
    } finally {
      await pool.end();
    }
  });

  it('sets no limit at all when the statement timeout is 0 (rollups rebuild, long batch work)', async () => {
    const pool = createPool(databaseUrl(), { statementTimeoutMs: 0 });
    try {
      // Longer than the client-side bound a 0 + 1 s once set.
      const { rows } = await pool.query<{ timeout: string }>(`SELECT current_setting('statement_timeout') AS timeout, pg_sleep(1.5)`);
      expect(rows[0]!.timeout).toBe('0');
    } finally {
      await pool.end();
    }
  });

  it('survives the server killing an idle connection, and reconnects', async () => {
    const errors: Error[] = [];
    const pool = createPool(databaseUrl(), { max: 1, onError: (err) => errors.push(err) });
    const admin = new Client({ connectionString: databaseUrl() });
    await admin.connect();
    try {
      const { rows } = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      // The connection now sits idle in the pool; without the 'error' listener this kills the process.
      await admin.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
      await expect.poll(() => errors.length).toBe(1);
      expect((await pool.query<{ one: number }>('SELECT 1 AS one')).rows[0]!.one).toBe(1);
    } finally {
      await admin.end();
      await pool.end();
    }
  });
});
