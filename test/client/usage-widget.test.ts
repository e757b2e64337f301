import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExampleApp } from '../../examples/hono-app/app.js';
import { mintUsageToken } from '../../src/auth/usage-token.js';
import { recordTraffic, startPageWithGateway, USAGE_TOKEN_SECRET, type PageOrigin } from '../support/browser-page.js';
import { CHROMIUM_ARGS, ensureChromium } from '../support/chromium.js';
import type { GatewayFixture, TestSubject } from '../support/gateway.js';

/**
 * The example app's page in a real headless Chromium: <quotagate-usage> shows the gateway's
 * bars, live (a consume made elsewhere moves them), with the 80 % warning from the gateway's
 * status; usage tokens that expired or were signed elsewhere are refused; the API key never
 * reaches the browser. Needs the built package (`npm test` builds it first).
 */

const browserPath = ensureChromium();
/** Generous: the machine is shared; the condition is what is checked, not how fast. */
const UPDATE_TIMEOUT_MS = 20_000;

let gw: GatewayFixture;
let subject: TestSubject;
let app: PageOrigin;
beforeAll(async () => {
  ({ page: app, gw, subject } = await startPageWithGateway());
  app.serve(createExampleApp({ gatewayUrl: gw.url, apiKey: subject.key }).fetch);
});
afterAll(async () => {
  app?.close();
  await gw?.close();
});

describe.skipIf(browserPath.skip !== undefined)(`<quotagate-usage> in Chromium${browserPath.skip ? ` (skipped: ${browserPath.skip})` : ''}`, () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: browserPath.path, args: CHROMIUM_ARGS, headless: true });
  });
  afterAll(() => browser?.close());

  it('shows the bars live, warns at 80 %, and never holds the API key', async () => {
    const context = await browser.newContext({ baseURL: app.origin });
    const page = await context.newPage();
    const seen = recordTraffic(page);
    await page.goto('/');

    const row = page.locator('quotagate-usage [data-metric="ai_generations"]');
    await expect.poll(() => row.locator('.value').textContent(), { timeout: UPDATE_TIMEOUT_MS }).toBe('0 / 10');
    expect(await row.getAttribute('data-status')).toBe('ok');
    expect(await row.locator('.notice').count()).toBe(0);

    // A consume made elsewhere (another backend, with the API key) moves the bar.
    const consumed = await gw.request('/v1/consume', { method: 'POST', key: subject.key, json: { charges: [{ metric: 'ai_generations', amount: 8 }] } });
    expect(consumed.status).toBe(200);
    await expect.poll(() => row.locator('.value').textContent(), { timeout: UPDATE_TIMEOUT_MS }).toBe('8 / 10');
    expect(await row.getAttribute('data-status')).toBe('warning');
    expect(await row.locator('.notice').textContent()).toBe('ai_generations: over 80 % used');
    expect(await row.locator('.bar').getAttribute('style')).toContain('width: 80%');

    // A generation through the app's own protected route moves it too.
    await page.click('#generate');
    await expect.poll(() => page.locator('#out').textContent(), { timeout: UPDATE_TIMEOUT_MS }).toContain('200');
    await expect.poll(() => row.locator('.value').textContent(), { timeout: UPDATE_TIMEOUT_MS }).toBe('9 / 10');
    expect(await gw.used(subject, 'ai_generations')).toBe(9);

    // The API key is nowhere: not in the HTML, the scripts, nor any request or answer.
    expect(await page.content()).not.toContain(subject.key);
    expect(seen.length).toBeGreaterThan(3);
    for (const entry of seen) expect(entry).not.toContain(subject.key);
    expect(seen.some((entry) => entry.includes(`${gw.url}/v1/usage/stream`) && entry.includes('Bearer qgu_'))).toBe(true);
    await context.close();
  });

  it('an expired or foreign usage token is refused, and the page can read that answer', async () => {
    const context = await browser.newContext({ baseURL: app.origin });
    const page = await context.newPage();
    await page.goto('/');
    const now = Math.floor(Date.now() / 1000);
    const tokens = {
      expired: mintUsageToken(USAGE_TOKEN_SECRET, { subject: subject.id, issuedAt: now - 600, expiresAt: now - 1 }),
      foreign: mintUsageToken('some-other-gateway-secret-0000', { subject: subject.id, issuedAt: now, expiresAt: now + 600 }),
      valid: mintUsageToken(USAGE_TOKEN_SECRET, { subject: subject.id, issuedAt: now, expiresAt: now + 600 }),
    };
    const statuses = await page.evaluate(
      async ({ gateway, tokens }) => {
        const result: Record<string, number> = {};
        for (const [name, token] of Object.entries(tokens)) {
          for (const path of ['/v1/usage', '/v1/usage/stream']) {
            const controller = new AbortController();
            const res = await fetch(`${gateway}${path}`, { headers: { authorization: `Bearer ${token}` }, signal: controller.signal });
            result[`${name} ${path}`] = res.status;
            controller.abort();
          }
        }
        return result;
      },
      { gateway: gw.url, tokens },
    );
    expect(statuses).toEqual({
      'expired /v1/usage': 401,
      'expired /v1/usage/stream': 401,
      'foreign /v1/usage': 401,
      'foreign /v1/usage/stream': 401,
      'valid /v1/usage': 200,
      'valid /v1/usage/stream': 200,
    });
    await context.close();
  });
});
