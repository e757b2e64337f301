import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { KeyStore } from '../auth/key-store.js';
import type { Env } from '../config/env.js';
import { defaultPlanName } from '../config/policy.js';
import { createPool } from '../db/pool.js';
import { startDemoUpstream, type DemoUpstream } from '../demo/upstream.js';
import { startGateway, type Gateway } from '../gateway/gateway.js';
import { redactPassword, startLocalServices, type ChosenService } from '../local-services/local-services.js';
import { SubjectStore } from '../subjects/subject-store.js';
import { startWorker } from '../worker/worker.js';
import { loadConfig } from './load-config.js';
import { prepareDatabase } from './prepare-database.js';
import { stopOnSignal } from './stop-on-signal.js';

const DEMO_SUBJECT = 'demo';
const DEMO_UPSTREAM_PORT = 9100;

/**
 * `quotagate start` (what `npm start` runs): everything on one machine with working
 * defaults — Redis and Postgres (embedded ones when none answers), migrations, the demo
 * upstream the default policy points at, the worker, the gateway, and a demo subject with
 * a fresh API key printed beside curl examples.
 */
export async function startAll(dataDir: string): Promise<void> {
  const config = loadConfig();
  const { logger } = config;
  const services = await startLocalServices({
    redisUrl: process.env.REDIS_URL,
    databaseUrl: process.env.DATABASE_URL,
    redisCluster: config.env.QG_REDIS_CLUSTER,
    // Unset, the variables default to the local services (see the env schema).
    localRedisUrl: config.env.REDIS_URL,
    localDatabaseUrl: config.env.DATABASE_URL,
    dataDir: resolve(dataDir),
    log: (line) => logger.info(line),
  });
  // A demo needs the admin API too: without ADMIN_TOKEN, this run gets a random one (printed, never stored).
  const adminToken = config.env.ADMIN_TOKEN ?? `demo-admin-${randomBytes(18).toString('base64url')}`;
  const env: Env = { ...config.env, REDIS_URL: services.redis.url, DATABASE_URL: services.postgres.url, ADMIN_TOKEN: adminToken };

  await prepareDatabase(env.DATABASE_URL, (line) => logger.info(line));
  const upstream = await startDemoUpstream({ port: DEMO_UPSTREAM_PORT });
  const worker = await startWorker({ env, policy: config.policy, logger: logger.child({ component: 'worker' }) });
  const gateway = await startGateway({ env, policy: config.policy, logger });
  // One process, one scrape: the gateway's /metrics serves the worker's metrics too.
  gateway.deps.metrics.include(worker.metrics.registry);
  const secret = await demoKey(env, defaultPlanName(config.policy));
  printWelcome(gateway, upstream, services, secret, config.env.ADMIN_TOKEN === undefined ? adminToken : null);

  stopOnSignal(logger, async () => {
    await gateway.close();
    await worker.close();
    await upstream.close();
    // Last: the worker's final flush still needs them.
    await Promise.all([services.redis.stop(), services.postgres.stop()]);
  });
}

/** The demo subject (created once) and a new API key for it: a secret is only ever shown at creation. */
async function demoKey(env: Env, plan: string): Promise<string> {
  const pool = createPool(env.DATABASE_URL, { max: 1, applicationName: 'quotagate-setup' });
  try {
    await new SubjectStore(pool).create({ id: DEMO_SUBJECT, plan });
    return (await new KeyStore(pool).create(DEMO_SUBJECT, 'demo key (quotagate start)')).secret;
  } finally {
    await pool.end();
  }
}

/** `generatedAdminToken`: the token made for this run, shown; null when ADMIN_TOKEN was set (not echoed). */
function printWelcome(
  gateway: Gateway,
  upstream: DemoUpstream,
  services: { redis: ChosenService; postgres: ChosenService },
  secret: string,
  generatedAdminToken: string | null,
): void {
  const g = gateway.url;
  const auth = `-H "Authorization: Bearer ${secret}"`;
  const json = `-H "content-type: application/json"`;
  const where = (s: ChosenService) => `${redactPassword(s.url)} (${s.source})`;
  const adminAuth = `-H "Authorization: Bearer ${generatedAdminToken ?? '$ADMIN_TOKEN'}"`;
  console.log(`
quotagate is running
  gateway        ${g}   (docs: ${g}/docs, metrics: ${g}/metrics)
  dashboard      ${g}/admin/ui   (log in with the admin token)
  demo upstream  ${upstream.url}
  redis          ${where(services.redis)}
  postgres       ${where(services.postgres)}
  demo subject   "${DEMO_SUBJECT}", API key: ${secret}
  admin token    ${generatedAdminToken ?? '(ADMIN_TOKEN from the environment)'}

Try it:
  curl -s ${g}/v1/usage ${auth}
  curl -s ${g}/v1/chat/completions ${auth} ${json} -d '{"messages":[{"role":"user","content":"Hello"}],"max_tokens":100}'
  curl -sN ${g}/v1/chat/completions ${auth} ${json} -d '{"messages":[{"role":"user","content":"Hello"}],"stream":true,"stream_options":{"include_usage":true}}'
  curl -s -X POST ${g}/v1/projects ${auth} ${json} -d '{"name":"first"}'
  curl -s -X POST ${g}/v1/consume ${auth} ${json} -d '{"charges":[{"metric":"exports","amount":1}]}'

Admin:
  curl -s ${g}/admin/v1/subjects/${DEMO_SUBJECT} ${adminAuth}
  curl -s -X POST ${g}/admin/v1/subjects/${DEMO_SUBJECT}/grants ${adminAuth} ${json} -d '{"metric":"exports","amount":5,"reason":"demo"}'
  curl -s -X POST ${g}/admin/v1/subjects/${DEMO_SUBJECT}/reset ${adminAuth} ${json} -d '{"reason":"demo"}'

Stop with Ctrl-C.
`);
}
