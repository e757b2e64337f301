import { ensureDatabase } from '../db/ensure-database.js';
import { migrate } from '../db/migrate.js';

/** Creates the database when missing and applies pending migrations; `report` gets one line per step. */
export async function prepareDatabase(databaseUrl: string, report: (line: string) => void): Promise<void> {
  if (await ensureDatabase(databaseUrl)) report('created the database');
  const applied = await migrate(databaseUrl);
  report(applied.length > 0 ? `applied ${applied.length} migration(s): ${applied.join(', ')}` : 'no pending migrations');
}
