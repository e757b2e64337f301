import type { Logger } from 'pino';

/**
 * Keeps a long-running command (gateway, worker, …) up until SIGINT or SIGTERM, then runs
 * `stop` (stop accepting, finish what is in flight, close connections) and exits 0.
 * A second signal while stopping is ignored: a stop that hangs is for the supervisor's SIGKILL.
 */
export function stopOnSignal(logger: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}
