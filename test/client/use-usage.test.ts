import { fileURLToPath } from 'node:url';
import { createClient } from '@quotagate/client';
import { build } from 'esbuild';
import { Hono } from 'hono';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintUsageToken } from '../../src/auth/usage-token.js';
import { recordTraffic, startPageWithGateway, USAGE_TOKEN_SECRET, type PageOrigin } from '../support/browser-page.js';
import { CHROMIUM_ARGS, ensureChromium } from '../support/chromium.js';
import { startTcpProxy, targetOf } from '../support/tcp-proxy.js';
import type { GatewayFixture, TestSubject } from '../support/gateway.js';

/**
 * `useUsage` from @quotagate/client/react in a real headless Chromium: a React page (bundled
 * by esbuild from the built package, as an app's bundler would) shows each metric's bar from
 * the gateway, live (a consume made elsewhere moves it), with the 80 % status; a token that
 * expired or was signed elsewhere shows the gateway's refusal; the API key never reaches the
 * browser. Needs the built package (`npm test` builds it first).
 */

const browserPath = ensureChromium();
/** Generous: the machine is shared; the condition is what is checked, not how fast. */
const UPDATE_TIMEOUT_MS = 20_000;
const PAGE_SOURCE = fileURLToPath(new URL('./pages/use-usage-page.ts', import.meta.url));

let gw: GatewayFixture;
let subject: TestSubject;
let page: PageOrigin;
beforeAll(async () => {
  ({ page, gw, subject } = await startPageWithGateway());

  const bundle = await build({
    entryPoints: [PAGE_SOURCE],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    // React's development build: StrictMode then mounts the effect twice, as in an app under development.
    define: { 'process.env.NODE_ENV': '"development"' },
    logLevel: 'silent',
  });
  const script = bundle.outputFiles[0]!.text;
  // The page's backend: it holds the API key and hands the page a usage token, never the key.
  const client = createClient({ baseUrl: gw.url, apiKey: subject.key });
  const tokens: Record<string, () => Promise<string>> = {
    valid: async () => (await client.mintUsageToken()).token,
    expired: async () => {
      const now = Math.floor(Date.now() / 1000);
      return mintUsageToken(USAGE_TOKEN_SECRET, { subject: subject.id, issuedAt: now - 600, expiresAt: now - 1 });
    },
    foreign: async () => {
      const now = Math.floor(Date.now() / 1000);
      return mintUsageToken('some-other-gateway-secret-0000', { subject: subject.id, issuedAt: now, expiresAt: now + 600 });
    },
  };
  const app = new Hono();
  app.get('/', (c) => c.html('<!doctype html><html><head><meta charset="utf-8"><script type="module" src="/page.js"></script></head><body><div id="root"></div></body></html>'));
  app.get('/page.js', (c) => c.body(script, 200, { 'content-type': 'text/javascript; charset=utf-8' }));
  app.get('/usage-token', async (c) => {
    const mint = tokens[c.req.query('kind') ?? ''];
    return mint ? c.json({ token: await mint() }, 200, { 'cache-control': 'no-store' }) : c.notFound();
  });
  page.serve(app.fetch);
});
afterAll(async () => {
  page?.close();
  await gw?.close();
});

describe.skipIf(browserPath.skip !== undefined)(`useUsage in Chromium${browserPath.skip ? ` (skipped: ${browserPath.skip})` : ''}`, () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: browserPath.path, args: CHROMIUM_ARGS, headless: true });
  });
  afterAll(() => browser?.close());

  const open = async (token: string, gateway = gw.url) => {
    const context = await browser.newContext({ baseURL: page.origin });
    const tab = await context.newPage();
    const errors: string[] = [];
    tab.on('pageerror', (err) => errors.push(String(err)));
    const seen = recordTraffic(tab);
    await tab.goto(`/?${new URLSearchParams({ gateway, token })}`);
    return { context, tab, seen, errors };
  };

  it('shows each bar live, the 80 % status, and never holds the API key', async () => {
    const { context, tab, seen, errors } = await open('valid');
    const row = tab.locator('[data-metric="ai_generations"]');
    await expect.poll(() => row.locator('.value').textContent(), { timeout: UPDATE_TIMEOUT_MS }).toBe('0 / 10');
    expect(await row.getAttribute('data-status')).toBe('ok');
    expect(await row.locator('.notice').count()).toBe(0);
    // Every metric of the plan has its row, from the gateway's snapshot.
    const rows = await tab.locator('#metrics > li').all();
    expect((await Promise.all(rows.map((r) => r.getAttribute('data-metric')))).sort()).toEqual(['ai_generations', 'ai_tokens', 'exports', 'projects']);

    // A consume made elsewhere (another backend, with the API key) moves the bar.
    const consumed = await gw.request('/v1/consume', { method: 'POST', key: subject.key, json: { charges: [{ metric: 'ai_generations', amount: 8 }] } });
    expect(consumed.status).toBe(200);
    await expect.poll(() => row.locator('.value').textContent(), { timeout: UPDATE_TIMEOUT_MS }).toBe('8 / 10');
    expect(await row.getAttribute('data-status')).toBe('warning');
    expect(await row.locator('.notice').textContent()).toBe('ai_generations: warning');
    expect(await row.locator('.bar').getAttribute('style')).toContain('width: 80%');

    // And again, to exceeded: every change is pushed, not just the first.
    await gw.request('/v1/consume', { method: 'POST', key: subject.key, json: { charges: [{ metric: 'ai_generations', amount: 2 }] } });
    await expect.poll(() => row.getAttribute('data-status'), { timeout: UPDATE_TIMEOUT_MS }).toBe('exceeded');
    expect(await row.locator('.value').textContent()).toBe('10 / 10');
    expect(await tab.locator('#error').count()).toBe(0);

    expect(await tab.content()).not.toContain(subject.key);
    expect(seen.some((entry) => entry.includes(`${gw.url}/v1/usage/stream`) && entry.includes('Bearer qgu_'))).toBe(true);
    for (const entry of seen) expect(entry).not.toContain(subject.key);
    expect(errors).toEqual([]);
    await context.close();
  });

  for (const token of ['expired', 'foreign']) {
    it(`the ${token} token shows the gateway's refusal, and no usage`, async () => {
      const { context, tab, errors } = await open(token);
      const refused = tab.locator('#error');
      await expect.poll(() => refused.getAttribute('data-code'), { timeout: UPDATE_TIMEOUT_MS }).toBe('unauthorized');
      expect(await tab.locator('#loading').count()).toBe(1);
      expect(await tab.locator('#metrics').count()).toBe(0);
      expect(errors).toEqual([]);
      await context.close();
    });
  }

  it('a cut connection shows a network error, then the bars come back by themselves with what changed meanwhile', async () => {
    const proxy = await startTcpProxy(targetOf(gw.url));
    try {
      const { context, tab, errors } = await open('valid', proxy.rewrite(gw.url));
      const value = tab.locator('[data-metric="ai_tokens"] .value');
      await expect.poll(() => value.textContent(), { timeout: UPDATE_TIMEOUT_MS }).toBe('0 / 20000');

      proxy.block('refuse');
      await expect.poll(() => tab.locator('#error').getAttribute('data-code'), { timeout: UPDATE_TIMEOUT_MS }).toBe('network');
      const consumed = await gw.request('/v1/consume', { method: 'POST', key: subject.key, json: { charges: [{ metric: 'ai_tokens', amount: 1000 }] } });
      expect(consumed.status).toBe(200);

      proxy.unblock();
      await expect.poll(() => value.textContent(), { timeout: UPDATE_TIMEOUT_MS }).toBe('1000 / 20000');
      // The error goes once a snapshot arrives; every failure on the way was a network one (the cut stream, the refused reconnects).
      expect(await tab.locator('#error').count()).toBe(0);
      expect(new Set(await tab.locator('#error-log li').allTextContents())).toEqual(new Set(['network']));
      expect(errors).toEqual([]);
      await context.close();
    } finally {
      await proxy.close();
    }
  });
});
