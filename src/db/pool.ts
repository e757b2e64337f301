import { Pool } from 'pg';

export interface PoolOptions {
  /** Most connections this process holds. */
  max?: number;
  /** Server-side cap on one statement, so a stuck query cannot pin a connection forever; 0 = none (long batch work). */
  statementTimeoutMs?: number;
  /** How long to wait for a connection (new or from the pool) before failing. */
  connectionTimeoutMs?: number;
  /** How long an unused connection stays open. */
  idleTimeoutMs?: number;
  /** Shown in pg_stat_activity; tells operators which process holds a connection. */
  applicationName?: string;
  /** Told about errors of idle connections (server restart, network drop). Default: stderr. */
  onError?: (err: Error) => void;
}

/**
 * A pg pool with production defaults. Its 'error' listener matters: pg emits 'error' when
 * an idle connection dies, and an EventEmitter 'error' without a listener kills the process.
 * The pool drops the broken connection and opens a new one on the next query.
 */
export function createPool(databaseUrl: string, opts: PoolOptions = {}): Pool {
  const statementTimeoutMs = opts.statementTimeoutMs ?? 30_000;
  const pool = new Pool({
    connectionString: databaseUrl,
    max: opts.max ?? 10,
    statement_timeout: statementTimeoutMs,
    // The client's own bound, a second later: a server that stopped answering (a network
    // black hole) cannot enforce its statement_timeout, and the query would wait forever.
    // No statement timeout, no client bound either (0 is pg's "none" for both).
    query_timeout: statementTimeoutMs === 0 ? 0 : statementTimeoutMs + 1_000,
    connectionTimeoutMillis: opts.connectionTimeoutMs ?? 5_000,
    idleTimeoutMillis: opts.idleTimeoutMs ?? 30_000,
    application_name: opts.applicationName ?? 'quotagate',
  });
  const onError = opts.onError ?? ((err: Error) => console.error(`postgres: idle connection error: ${err.message}`));
  pool.on('error', (err) => onError(err));
  return pool;
}
