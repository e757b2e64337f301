import { Option, type Command } from '@commander-js/extra-typings';
import { port } from '../arguments.js';

/**
 * The processes of a deployment, one command each (docker-compose runs exactly these):
 * `migrate` once, then any number of `gateway` and `worker` processes; `start` runs them
 * all in one process for a development machine.
 *
 * Each action imports what it runs when it runs: `--help` and the admin shortcuts then
 * start in a fraction of the time it takes to load the gateway and the worker.
 */
export function addServiceCommands(program: Command): void {
  program
    .command('start')
    .description('run everything on this machine: Redis and Postgres (embedded if none answers), migrations, demo upstream, worker, gateway, a demo API key')
    .option('--data-dir <dir>', 'where embedded Redis/PostgreSQL keep their data and logs', '.quotagate')
    .action(async ({ dataDir }) => {
      const { startAll } = await import('../start-all.js');
      await startAll(dataDir);
    });

  program
    .command('gateway')
    .description('serve the gateway (proxy, decision API, admin API) on HOST:PORT; stops gracefully on SIGTERM')
    .action(async () => {
      const [{ loadConfig }, { startGateway }, { stopOnSignal }, { routeProcessOutput }] = await Promise.all([
        import('../load-config.js'),
        import('../../gateway/gateway.js'),
        import('../stop-on-signal.js'),
        import('../../observability/logger.js'),
      ]);
      const { env, policy, logger } = loadConfig();
      routeProcessOutput(logger);
      const gateway = await startGateway({ env, policy, logger });
      stopOnSignal(logger, () => gateway.close());
    });

  program
    .command('worker')
    .description('run a worker: flushes the outbox into the Postgres ledger, reconciles, expires, notifies (run as many as you like)')
    .action(async () => {
      const [{ loadConfig }, { startWorker }, { stopOnSignal }, { routeProcessOutput }] = await Promise.all([
        import('../load-config.js'),
        import('../../worker/worker.js'),
        import('../stop-on-signal.js'),
        import('../../observability/logger.js'),
      ]);
      const { env, policy, logger } = loadConfig('quotagate-worker');
      routeProcessOutput(logger);
      const worker = await startWorker({ env, policy, logger });
      stopOnSignal(logger, () => worker.close());
    });

  program
    .command('migrate')
    .description('create the database DATABASE_URL names if it is missing, apply pending migrations, exit')
    .action(async () => {
      const [{ loadEnv }, { prepareDatabase }] = await Promise.all([import('../../config/env.js'), import('../prepare-database.js')]);
      await prepareDatabase(loadEnv().DATABASE_URL, (line) => console.log(line));
    });

  program
    .command('demo-upstream')
    .description('run the demo upstream alone (the mock API the default policy proxies to)')
    .addOption(new Option('--host <host>', 'listen address').env('DEMO_UPSTREAM_HOST').default('127.0.0.1'))
    .addOption(new Option('--port <port>', 'listen port').env('DEMO_UPSTREAM_PORT').argParser(port).default(9100))
    .action(async ({ host, port }) => {
      const [{ startDemoUpstream }, { createLogger }, { stopOnSignal }] = await Promise.all([
        import('../../demo/upstream.js'),
        import('../../observability/logger.js'),
        import('../stop-on-signal.js'),
      ]);
      const upstream = await startDemoUpstream({ host, port });
      console.log(`demo upstream listening on ${upstream.url}`);
      stopOnSignal(createLogger('info', 'quotagate-demo-upstream'), () => upstream.close());
    });
}
