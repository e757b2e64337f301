import type { Command } from '@commander-js/extra-typings';
import { instant } from '../arguments.js';

/** Database maintenance of the usage history (README "Usage history"), on DATABASE_URL like `migrate`. */
export function addRollupCommands(program: Command): void {
  const rollups = program.command('rollups').description('maintain the usage history (hourly rollups of the ledger)');
  rollups
    .command('rebuild')
    .description('recount the hourly rollups from the ledger (after upgrading every worker past migration 007, or to check them); flushes wait while it runs')
    .option('--from <iso>', "first instant to recount (its whole hour); default: the ledger's beginning", instant)
    .option('--to <iso>', "end of the recount (exclusive, rounded up to a whole hour); default: the ledger's end", instant)
    .action(async ({ from, to }) => {
      const [{ loadEnv }, { createPool }, { rebuildRollups }] = await Promise.all([
        import('../../config/env.js'),
        import('../../db/pool.js'),
        import('../../history/rebuild-rollups.js'),
      ]);
      // A whole ledger takes a while: no statement timeout.
      const pool = createPool(loadEnv().DATABASE_URL, { max: 1, statementTimeoutMs: 0, applicationName: 'quotagate-rollups' });
      try {
        const written = await rebuildRollups(pool, { from, to });
        const range = `${from === undefined ? 'the beginning' : new Date(from).toISOString()} to ${to === undefined ? 'now' : new Date(to).toISOString()}`;
        console.log(`recounted ${written} hourly rollup row(s) from the ledger, ${range}`);
      } finally {
        await pool.end();
      }
    });
}
