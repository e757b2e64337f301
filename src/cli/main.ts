/** The `quotagate` command line (bin/quotagate.js runs it; so do `npm start` and `npm run worker`). */
import { CommanderError } from '@commander-js/extra-typings';
import { ConfigError } from '../config/errors.js';
import { AdminApiError, GatewayUnreachableError } from './admin-client.js';
import { buildProgram } from './program.js';

/** Exit codes: 0 success, 1 failure (bad configuration, an error answer, a crash), 2 usage error. */
function report(err: unknown): number {
  // commander has already printed its message (and the help hint); --help and --version end here with 0.
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
  if (err instanceof AdminApiError) {
    console.error(JSON.stringify(err.problem, null, 2));
    return 1;
  }
  if (err instanceof ConfigError || err instanceof GatewayUnreachableError) console.error(err.message);
  // An error with a code (ECONNREFUSED, a Postgres SQLSTATE) is about the world, not a bug: no stack.
  else if (typeof (err as { code?: unknown }).code === 'string') console.error(`quotagate: ${(err as Error).message}`);
  else console.error(`quotagate: ${(err as Error).stack ?? String(err)}`);
  return 1;
}

try {
  await buildProgram().parseAsync();
} catch (err) {
  // Exit now: a half-started command may hold connections open.
  process.exit(report(err));
}
