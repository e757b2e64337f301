import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { Page } from 'playwright-core';
import { loadPolicyFile } from '../../src/config/load-policy.js';
import { startGatewayFixture, type GatewayFixture, type TestSubject } from './gateway.js';

type FetchHandler = (request: Request) => Response | Promise<Response>;

export interface PageOrigin {
  /** http://127.0.0.1:<port>, to list in QG_CORS_ORIGINS. */
  origin: string;
  /** What the origin serves from now on (503 until set). */
  serve(handler: FetchHandler): void;
  close(): void;
}

/**
 * An HTTP origin for a test page, listening before anything is served: the gateway must be
 * started with the page's origin in QG_CORS_ORIGINS, and the page's app needs the gateway's
 * URL, so the port comes first and the handler after.
 */
export async function listenForPage(): Promise<PageOrigin> {
  let handler: FetchHandler = () => new Response('starting', { status: 503 });
  const server = serve({ fetch: (request) => handler(request), hostname: '127.0.0.1', port: 0 });
  await once(server, 'listening');
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    serve: (next) => {
      handler = next;
    },
    close: () => server.close(),
  };
}

/**
 * Every request the page makes (method, URL, headers, body) and every answer's body, as
 * text, to check that a secret never reaches the browser by any route.
 */
export function recordTraffic(page: Page): string[] {
  const seen: string[] = [];
  page.on('request', (request) => {
    seen.push(`${request.method()} ${request.url()}\n${JSON.stringify(request.headers())}\n${request.postData() ?? ''}`);
  });
  page.on('response', async (response) => {
    // A stream still open when the page closes has no body to give: nothing of it was seen.
    seen.push(await response.text().catch(() => ''));
  });
  return seen;
}

/** The gateway's usage-token secret in browser tests (tests mint expired tokens with it). */
export const USAGE_TOKEN_SECRET = 'usage-token-secret-0123456789';

/**
 * A page's origin and a gateway (shipped policy) that mints and accepts usage tokens and
 * answers CORS for that origin, with a subject on plan `free` (10 ai_generations: 8 used is 80 %).
 */
export async function startPageWithGateway(): Promise<{ page: PageOrigin; gw: GatewayFixture; subject: TestSubject }> {
  const page = await listenForPage();
  const shipped = loadPolicyFile('config/policy.yaml');
  const gw = await startGatewayFixture({ policy: () => shipped, env: { QG_USAGE_TOKEN_SECRET: USAGE_TOKEN_SECRET, QG_CORS_ORIGINS: page.origin } });
  return { page, gw, subject: await gw.createSubject({ plan: 'free' }) };
}
