import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';

/** The repo's `migrations/`: two levels up from both src/db/ and dist/db/, so any cwd works. */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));

/** Where node-pg-migrate records applied migrations. */
export const MIGRATIONS_TABLE = 'pgmigrations';

export interface MigrateOptions {
  /** Progress lines of node-pg-migrate (one per migration). Default: silent. */
  log?: (message: string) => void;
}

/**
 * Applies every pending migration in `migrations/`; returns the names it applied.
 *
 * Safe to run from several processes at once (each gateway and worker migrates at start):
 * node-pg-migrate takes a session advisory lock first, and `wait` makes the others queue on
 * it instead of failing; they then find nothing left to do. All pending migrations run in
 * one transaction, so a failure leaves the schema as it was.
 */
export async function migrate(databaseUrl: string, opts: MigrateOptions = {}): Promise<string[]> {
  const log = opts.log ?? (() => {});
  const applied = await runner({
    databaseUrl: { connectionString: databaseUrl, application_name: 'quotagate-migrate' },
    dir: MIGRATIONS_DIR,
    migrationsTable: MIGRATIONS_TABLE,
    direction: 'up',
    // The grouped SQL loader: `NNN_name.sql` with "-- Up Migration" / "-- Down Migration"
    // markers, or a `NNN_name.up.sql` + `NNN_name.down.sql` pair; both record `NNN_name`.
    migrationLoaderStrategies: [{ extensions: ['.sql'], loader: 'sql' }],
    // Editor backups, READMEs and dotfiles in migrations/ are not migrations.
    ignorePattern: '(\\..*|.*\\.md|.*~)',
    checkOrder: true,
    singleTransaction: true,
    advisoryLockMode: 'wait',
    logger: { debug: log, info: log, warn: log, error: log },
  });
  return applied.map((m) => m.name);
}
