/**
 * A child process of `npm run bench:gateway`: serves one variant on a free loopback port
 * and prints `listening on <url>`, so the server under load has an event loop (and a
 * core, when the OS gives it one) of its own, apart from the load generator.
 *
 *   node --import tsx bench/gateway/server.ts gateway    quotagate: startGateway() from the environment, the workload's route
 *   node --import tsx bench/gateway/server.ts fixed      the same, the route charged as the workload's fixed-charge twin
 *   node --import tsx bench/gateway/server.ts baseline   the plain Hono proxy (bench/gateway/plain-proxy.ts)
 *
 * BENCH_UPSTREAM_URL names the demo upstream; the gateway variants also read their usual
 * environment (REDIS_URL, DATABASE_URL, QG_KEY_PREFIX, ...). SIGTERM closes it.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { loadEnv } from '../../src/config/env.js';
import { startGateway } from '../../src/gateway/gateway.js';
import { createLogger } from '../../src/observability/logger.js';
import { UpstreamClient } from '../../src/proxy/upstream-client.js';
import { benchGatewayPolicy } from './workload.js';
import { plainProxyApp } from './plain-proxy.js';

interface Running {
  url: string;
  close(): Promise<void>;
}

async function startGatewayVariant(upstreamUrl: string, variant: 'gateway' | 'fixed'): Promise<Running> {
  const env = loadEnv();
  return startGateway({ env, policy: benchGatewayPolicy(upstreamUrl, variant), logger: createLogger(env.LOG_LEVEL) });
}

async function startBaseline(upstreamUrl: string): Promise<Running> {
  const upstream = new UpstreamClient();
  const server = serve({ fetch: plainProxyApp(upstreamUrl, upstream).fetch, hostname: '127.0.0.1', port: 0 });
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      await closed;
      await upstream.close();
    },
  };
}

const variant = process.argv[2];
const upstreamUrl = process.env.BENCH_UPSTREAM_URL;
if ((variant !== 'gateway' && variant !== 'fixed' && variant !== 'baseline') || !upstreamUrl) {
  console.error('usage: BENCH_UPSTREAM_URL=<url> node --import tsx bench/gateway/server.ts gateway|fixed|baseline');
  process.exit(2);
}
const running = await (variant === 'baseline' ? startBaseline(upstreamUrl) : startGatewayVariant(upstreamUrl, variant));
console.log(`listening on ${running.url}`);
process.once('SIGTERM', () => void running.close().finally(() => process.exit(0)));
