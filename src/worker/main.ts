/** The worker process on its own (production runs several): flushes the outbox into the ledger. */
import { loadEnv } from '../config/env.js';
import { ConfigError } from '../config/errors.js';
import { loadPolicyFile } from '../config/load-policy.js';
import { createLogger } from '../observability/logger.js';
import { startWorker } from './worker.js';

async function main(): Promise<void> {
  const env = loadEnv();
  const logger = createLogger(env.LOG_LEVEL, 'quotagate-worker');
  const worker = await startWorker({ env, policy: loadPolicyFile(env.POLICY_FILE), logger });
  const stop = async (signal: string) => {
    logger.info({ signal }, 'worker shutting down');
    await worker.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err: unknown) => {
  console.error(err instanceof ConfigError ? err.message : `quotagate worker could not start: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
