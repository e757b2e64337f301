import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, isQuotagateError } from '@quotagate/client';
import { watchUsage, type Usage, type UsageWatch } from '@quotagate/client/usage';
import { mintUsageToken } from '../../src/auth/usage-token.js';
import { USAGE_TOKEN_SECRET } from '../support/browser-page.js';
import { startGatewayFixture, type GatewayFixture } from '../support/gateway.js';
import { startTcpProxy, targetOf, type TcpProxy } from '../support/tcp-proxy.js';

/**
 * watchUsage on Node (what the React hook and the web component are built on) against a real
 * gateway: every change is handed over, a refused token is an `unauthorized` QuotagateError and
 * a cut connection a `network` one, and it comes back by itself with a fresh token. From the
 * built package, as a Node app imports it (`npm test` builds it first).
 */

const WAIT_MS = 20_000;

let gw: GatewayFixture;
let proxy: TcpProxy;
const watches: UsageWatch[] = [];
beforeAll(async () => {
  gw = await startGatewayFixture({ env: { QG_USAGE_TOKEN_SECRET: USAGE_TOKEN_SECRET } });
  proxy = await startTcpProxy(targetOf(gw.url));
});
afterAll(async () => {
  for (const watch of watches) watch.stop();
  await proxy?.close();
  await gw?.close();
});

/** Starts a watch that records what it is handed: `gens` used per snapshot, and every error. */
function record(baseUrl: string, getToken: () => Promise<string>) {
  const used: number[] = [];
  const errors: unknown[] = [];
  const onUsage = (usage: Usage) => used.push(usage.metrics.find((m) => m.metric === 'gens')!.used);
  watches.push(watchUsage({ baseUrl, getToken, onUsage, onError: (err) => errors.push(err), retryDelayMs: 20 }));
  return { used, errors, codes: () => errors.map((err) => (isQuotagateError(err) ? err.code : String(err))) };
}

describe('watchUsage', () => {
  it('waits before reconnecting to a stream that ended without `expired`, as after a failure', async () => {
    // A server that answers every stream and closes it at once (a proxy cutting idle streams, a restart loop).
    let connections = 0;
    const server = createServer((_req, res) => {
      connections++;
      res.writeHead(200, { 'content-type': 'text/event-stream' }).end(': bye\n\n');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const watch = watchUsage({ baseUrl: `http://127.0.0.1:${port}`, getToken: async () => 'qgu_x.y', onUsage: () => {}, retryDelayMs: 60_000 });
    try {
      await expect.poll(() => connections, { timeout: WAIT_MS }).toBe(1);
      // A tight loop would have called it hundreds of times by now; the first wait is a minute.
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(connections).toBe(1);
    } finally {
      watch.stop();
      server.close();
    }
  });

  it('a refused token is an unauthorized QuotagateError; with a valid one every change is handed over', async () => {
    const subject = await gw.createSubject();
    const client = createClient({ baseUrl: gw.url, apiKey: subject.key });
    const now = Math.floor(Date.now() / 1000);
    const foreign = mintUsageToken('some-other-gateway-secret-0000', { subject: subject.id, issuedAt: now, expiresAt: now + 600 });
    let calls = 0;
    // The first token was signed elsewhere; the backend's next ones are good.
    const watch = record(gw.url, async () => (calls++ === 0 ? foreign : (await client.mintUsageToken()).token));

    await expect.poll(() => watch.used, { timeout: WAIT_MS }).toEqual([0]);
    expect(watch.codes()).toEqual(['unauthorized']);
    expect(watch.errors[0]).toMatchObject({ status: 401, problem: { code: 'unauthorized' } });

    await client.consume({ charges: [{ metric: 'gens', amount: 3 }] });
    await expect.poll(() => watch.used.at(-1), { timeout: WAIT_MS }).toBe(3);
    await client.consume({ charges: [{ metric: 'gens', amount: 2 }] });
    await expect.poll(() => watch.used.at(-1), { timeout: WAIT_MS }).toBe(5);
  });

  it('a cut connection is a network QuotagateError, and the watch comes back with what changed meanwhile', async () => {
    const subject = await gw.createSubject();
    const client = createClient({ baseUrl: gw.url, apiKey: subject.key });
    const watch = record(proxy.rewrite(gw.url), async () => (await client.mintUsageToken()).token);
    await expect.poll(() => watch.used, { timeout: WAIT_MS }).toEqual([0]);

    proxy.block('refuse');
    await expect.poll(() => watch.codes().length, { timeout: WAIT_MS }).toBeGreaterThanOrEqual(2);
    expect(new Set(watch.codes())).toEqual(new Set(['network']));
    await client.consume({ charges: [{ metric: 'gens', amount: 4 }] });

    proxy.unblock();
    await expect.poll(() => watch.used.at(-1), { timeout: WAIT_MS }).toBe(4);
  });
});
