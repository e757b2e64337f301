import { readFileSync } from 'node:fs';
import { Command } from '@commander-js/extra-typings';
import { addAdminCommands } from './commands/admin.js';
import { addBillingCommands } from './commands/billing.js';
import { addConfigCommands } from './commands/config.js';
import { addRollupCommands } from './commands/rollups.js';
import { addServiceCommands } from './commands/services.js';

// package.json sits two levels up from both src/cli/ and dist/cli/.
const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

/** The `quotagate` command and its subcommands. */
export function buildProgram(): Command {
  const program = new Command('quotagate')
    .description('Rate-limit and usage-quota gateway: atomic decisions in Redis, a durable ledger in Postgres.')
    .version(version)
    // Errors become exceptions (main.ts picks the exit code); subcommands inherit both settings.
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)');
  addServiceCommands(program);
  addConfigCommands(program);
  addRollupCommands(program);
  addAdminCommands(program);
  addBillingCommands(program);
  return program;
}
