/**
 * `npm start`: everything on one machine with working defaults — migrations, the demo
 * upstream the default policy points at, the worker, the gateway, and a demo subject with
 * a fresh API key printed beside curl examples.
 */
import { loadEnv, type Env } from './config/env.js';
import { ConfigError } from './config/errors.js';
import { defaultPlanName } from './config/policy.js';
import { loadPolicyFile } from './config/load-policy.js';
import { ensureDatabase } from './db/ensure-database.js';
import { migrate } from './db/migrate.js';
import { createPool } from './db/pool.js';
import { startDemoUpstream, type DemoUpstream } from './demo/upstream.js';
import { KeyStore } from './auth/key-store.js';
import { startGateway, type Gateway } from './gateway/gateway.js';
import { startWorker } from './worker/worker.js';
import { createLogger } from './observability/logger.js';
import { SubjectStore } from './subjects/subject-store.js';

const DEMO_SUBJECT = 'demo';
const DEMO_UPSTREAM_PORT = 9100;

async function main(): Promise<void> {
  const env = loadEnv();
  const policy = loadPolicyFile(env.POLICY_FILE);
  const logger = createLogger(env.LOG_LEVEL);

  if (await ensureDatabase(env.DATABASE_URL)) logger.info('created the database');
  const applied = await migrate(env.DATABASE_URL);
  logger.info({ applied }, 'migrations applied');

  const upstream = await startDemoUpstream({ port: DEMO_UPSTREAM_PORT });
  const worker = await startWorker({ env, policy, logger: logger.child({ name: 'quotagate-worker' }) });
  const gateway = await startGateway({ env, policy, logger });
  const secret = await demoKey(env, defaultPlanName(policy));
  printWelcome(gateway, upstream, secret);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    await gateway.close();
    await worker.close();
    await upstream.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

/** The demo subject (created once) and a new API key for it: a secret is only ever shown at creation. */
async function demoKey(env: Env, plan: string): Promise<string> {
  const pool = createPool(env.DATABASE_URL, { max: 1, applicationName: 'quotagate-setup' });
  try {
    await new SubjectStore(pool).create({ id: DEMO_SUBJECT, plan });
    return (await new KeyStore(pool).create(DEMO_SUBJECT, 'demo key (npm start)')).secret;
  } finally {
    await pool.end();
  }
}

function printWelcome(gateway: Gateway, upstream: DemoUpstream, secret: string): void {
  const g = gateway.url;
  const auth = `-H "Authorization: Bearer ${secret}"`;
  const json = `-H "content-type: application/json"`;
  console.log(`
quotagate is running
  gateway        ${g}   (docs: ${g}/docs, metrics: ${g}/metrics)
  demo upstream  ${upstream.url}
  demo subject   "${DEMO_SUBJECT}", API key: ${secret}

Try it:
  curl -s ${g}/v1/usage ${auth}
  curl -s ${g}/v1/chat/completions ${auth} ${json} -d '{"messages":[{"role":"user","content":"Hello"}],"max_tokens":100}'
  curl -sN ${g}/v1/chat/completions ${auth} ${json} -d '{"messages":[{"role":"user","content":"Hello"}],"stream":true,"stream_options":{"include_usage":true}}'
  curl -s -X POST ${g}/v1/projects ${auth} ${json} -d '{"name":"first"}'
  curl -s -X POST ${g}/v1/consume ${auth} ${json} -d '{"charges":[{"metric":"exports","amount":1}]}'

Stop with Ctrl-C.
`);
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) console.error(err.message);
  else console.error(`quotagate could not start: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
