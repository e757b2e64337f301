import { Client, escapeIdentifier, type Pool } from 'pg';
import { migrate } from '../../src/db/migrate.js';
import type { SubjectRef } from '../../src/quota/types.js';
import { processCpuSeconds } from '../shared/process-cpu.js';

/**
 * The ledger benchmark's own database: dropped and created anew before every measured run,
 * so each starts from the same empty, migrated schema (the ledger is append-only: its
 * tables cannot be emptied any other way). Since it is dropped, the name must say it is a
 * benchmark's: a BENCH_DATABASE_URL naming a real database is refused.
 */
export async function recreateDatabase(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.slice(1));
  if (!/bench/i.test(name)) throw new Error(`refusing to drop the database "${name}": the ledger benchmark drops its database, so its name must contain "bench"`);
  url.pathname = '/postgres';
  const admin = new Client({ connectionString: url.toString(), application_name: 'quotagate-bench-setup' });
  await admin.connect();
  try {
    // FORCE: a worker of an interrupted earlier run may still hold connections.
    await admin.query(`DROP DATABASE IF EXISTS ${escapeIdentifier(name)} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${escapeIdentifier(name)}`);
  } finally {
    await admin.end();
  }
  await migrate(databaseUrl);
}

/** The subjects, as a deployment has them: the worker looks them up (for usage-threshold notifications). */
export async function seedSubjects(pool: Pool, subjects: readonly SubjectRef[]): Promise<void> {
  await pool.query(`INSERT INTO subjects (id, plan) SELECT * FROM unnest($1::text[], $2::text[])`, [subjects.map((s) => s.id), subjects.map((s) => s.plan)]);
}

/**
 * CPU seconds used so far by the Postgres backends connected to the pool's database, this
 * pool's own connection excepted (from /proc; NaN where there is none). Backends that have
 * already disconnected are not counted: read it while the connections under test are open.
 */
export async function backendCpuSeconds(pool: Pool): Promise<number> {
  const { rows } = await pool.query<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()`,
  );
  return rows.reduce((sum, r) => sum + processCpuSeconds(r.pid), 0);
}

/** The server's version, e.g. "15.20 (Debian 15.20-0+deb12u1)". */
export async function postgresVersion(pool: Pool): Promise<string> {
  const { rows } = await pool.query<{ server_version: string }>('SHOW server_version');
  return rows[0]?.server_version ?? 'unknown';
}

/** What the worker's reconcile job did in a database: runs, keys compared, and their total duration. */
export interface Reconciliations {
  runs: number;
  compared: number;
  seconds: number;
}

export async function reconciliations(pool: Pool): Promise<Reconciliations> {
  const { rows } = await pool.query<{ runs: string; compared: string | null; seconds: number | null }>(
    `SELECT count(*) AS runs, sum((stats->>'compared')::bigint) AS compared,
            sum(extract(epoch FROM coalesce(finished_at, now()) - started_at))::float8 AS seconds
       FROM reconciliation_runs`,
  );
  const r = rows[0]!;
  return { runs: Number(r.runs), compared: Number(r.compared ?? 0), seconds: r.seconds ?? 0 };
}

/** What ran between two readings. */
export const reconciliationsDelta = (before: Reconciliations, after: Reconciliations): Reconciliations => ({
  runs: after.runs - before.runs,
  compared: after.compared - before.compared,
  seconds: after.seconds - before.seconds,
});

/**
 * Waits until a reconciliation has finished and none is running (a worker runs one as soon
 * as it starts); false if none has within `timeoutMs`.
 */
export async function reconciliationSettled(pool: Pool, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const { rows } = await pool.query<{ done: string; running: string }>(
      `SELECT count(*) FILTER (WHERE status <> 'running') AS done, count(*) FILTER (WHERE status = 'running') AS running FROM reconciliation_runs`,
    );
    if (Number(rows[0]!.done) > 0 && Number(rows[0]!.running) === 0) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}
