import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { runner } from 'node-pg-migrate';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScratchDatabase } from '../../test/support/services.js';
import { migrate, MIGRATIONS_DIR, MIGRATIONS_TABLE } from './migrate.js';

const TABLES = [
  'api_keys',
  'audit_log',
  'grants',
  'ledger_idempotency',
  'notifications',
  'reconciliation_drifts',
  'reconciliation_runs',
  'subjects',
  'usage_counters',
  'usage_events',
  'webhook_events',
  'billing_subscriptions',
  'billing_customers',
  'billing_unmatched',
];

/** Every migration in migrations/ (`NNN_name.sql`), by the name node-pg-migrate records. */
const MIGRATIONS = readdirSync(MIGRATIONS_DIR)
  .filter((f) => /^\d+_.+\.sql$/.test(f))
  .map((f) => f.replace(/\.sql$/, ''))
  .sort();

async function query<T extends object>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

const userTables = (url: string) =>
  query<{ name: string }>(url, `SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`).then((rows) => rows.map((r) => r.name));

describe('migrate', () => {
  let db: Awaited<ReturnType<typeof createScratchDatabase>>;
  beforeAll(async () => {
    db = await createScratchDatabase();
  });
  afterAll(() => db?.drop());

  it('lets two processes migrate a fresh database at once: one applies, the other waits and finds nothing to do', async () => {
    const [a, b] = await Promise.all([migrate(db.url), migrate(db.url)]);
    expect(MIGRATIONS[0]).toBe('001_initial');
    expect([a, b].sort((x, y) => y.length - x.length)).toEqual([MIGRATIONS, []]);

    const applied = await query<{ name: string }>(db.url, `SELECT name FROM ${MIGRATIONS_TABLE} ORDER BY id`);
    expect(applied.map((r) => r.name)).toEqual(MIGRATIONS);
    expect(await userTables(db.url)).toEqual(expect.arrayContaining([...TABLES, MIGRATIONS_TABLE]));
  });

  it('creates the current month and the next two as ledger partitions', async () => {
    const now = new Date();
    const expected = [0, 1, 2].map((i) => {
      const d = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + i, 1));
      return `usage_events_${d.getUTCFullYear()}${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
    });
    const partitions = await query<{ name: string }>(
      db.url,
      `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
       WHERE i.inhparent = 'usage_events'::regclass ORDER BY 1`,
    );
    expect(partitions.map((p) => p.name)).toEqual(expect.arrayContaining([...expected, 'usage_events_default']));
  });

  it('is a no-op when up to date, from any working directory', async () => {
    const cwd = process.cwd();
    process.chdir(tmpdir());
    try {
      expect(await migrate(db.url)).toEqual([]);
    } finally {
      process.chdir(cwd);
    }
  });

  it('has a down section that removes everything it created', async () => {
    const options = {
      databaseUrl: db.url,
      dir: MIGRATIONS_DIR,
      migrationsTable: MIGRATIONS_TABLE,
      migrationLoaderStrategies: [{ extensions: ['.sql'], loader: 'sql' as const }],
      log: () => {},
    };
    await runner({ ...options, direction: 'down', count: Infinity });
    expect(await userTables(db.url)).toEqual([MIGRATIONS_TABLE]);
    await migrate(db.url);
    expect(await userTables(db.url)).toEqual(expect.arrayContaining(TABLES));
  });
});
