import { chromium, type Browser, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM_ARGS, ensureChromium } from '../support/chromium.js';
import { gatewayTestPolicy, startGatewayFixture, TEST_ADMIN_TOKEN, type GatewayFixture, type TestSubject } from '../support/gateway.js';
import { startTestWorker } from '../support/ledger-checks.js';
import { databaseUrl } from '../support/services.js';
import { eventJson, eventually, SseReader } from '../support/sse-client.js';
import type { WorkerHandle } from '../../src/worker/worker.js';

/**
 * The admin dashboard in a real headless Chromium (Debian's package, installed by
 * ensureChromium when missing): login, usage bars, reset, live feed; and the feed's
 * shared tail and the session's checks without a browser.
 */

// Installs Chromium on first use (a while, once per machine); skips with the reason where it can't.
const browserPath = ensureChromium();

/** 10 gens: 8 used is 80 % (warning); 1000 tokens: 975 used is 97.5 % (critical). */
const policy = (upstream: string) => {
  const base = gatewayTestPolicy(upstream);
  return { ...base, plans: { ...base.plans, dash: { limits: { gens: 10, tokens: 1000, exports: 5, projects: 5 } } } };
};

let gw: GatewayFixture;
beforeAll(async () => {
  gw = await startGatewayFixture({ policy });
});
afterAll(() => gw?.close());

const consume = (subject: TestSubject, charges: { metric: string; amount: number }[]) => gw.request('/v1/consume', { method: 'POST', key: subject.key, json: { charges } });

async function subjectUsing(gens: number, tokens: number): Promise<TestSubject> {
  const subject = await gw.createSubject({ plan: 'dash' });
  expect(
    (
      await consume(subject, [
        { metric: 'gens', amount: gens },
        { metric: 'tokens', amount: tokens },
      ])
    ).status,
  ).toBe(200);
  return subject;
}

describe.skipIf(browserPath.skip !== undefined)(`admin dashboard in Chromium${browserPath.skip ? ` (skipped: ${browserPath.skip})` : ''}`, () => {
  let browser: Browser;
  let context: BrowserContext;
  /** Writes the ledger and audit trail that the subject page shows. */
  let worker: WorkerHandle;
  beforeAll(async () => {
    [browser, worker] = await Promise.all([
      chromium.launch({ executablePath: browserPath.path, args: CHROMIUM_ARGS, headless: true }),
      startTestWorker({ keys: gw.keys, redisUrl: gw.redisUrl, databaseUrl: databaseUrl(), policy: gw.policy }),
    ]);
  });
  afterAll(async () => {
    await browser?.close();
    await worker?.close();
  });

  it('sends a visitor without a session to the login form and refuses a wrong token', async () => {
    context = await browser.newContext({ baseURL: gw.url });
    const page = await context.newPage();
    await page.goto('/admin/ui');
    expect(new URL(page.url()).pathname).toBe('/admin/ui/login');

    await page.fill('#token', 'not-the-admin-token-at-all');
    const [answer] = await Promise.all([page.waitForResponse((r) => r.url().endsWith('/admin/ui/login') && r.request().method() === 'POST'), page.click('button[type=submit]')]);
    expect(answer.status()).toBe(401);
    await expect.poll(() => page.locator('[role=alert]').textContent()).toContain('not the admin token');
    expect(await context.cookies()).toEqual([]);
    await context.close();
  });

  it('shows a usage bar at its percentage and colour, resets it with a reason, and the live feed shows the reset', async () => {
    const subject = await subjectUsing(8, 975);
    context = await browser.newContext({ baseURL: gw.url });
    const page = await context.newPage();

    await page.goto('/admin/ui/login');
    await page.fill('#token', TEST_ADMIN_TOKEN);
    await page.fill('#name', 'playwright');
    await Promise.all([page.waitForURL('**/admin/ui'), page.click('button[type=submit]')]);
    const [cookie] = await context.cookies();
    expect(cookie).toMatchObject({ name: 'qg_admin_session', httpOnly: true, sameSite: 'Strict', path: '/admin' });
    expect(cookie!.value).not.toContain(TEST_ADMIN_TOKEN);

    // The list, filtered to this test's plan, shows the same bars; open the subject from its box.
    await Promise.all([page.waitForURL('**/admin/ui?plan=dash'), page.click('a[href="/admin/ui?plan=dash"]')]);
    const row = page.locator(`tr[data-subject="${subject.id}"] td[data-metric=gens] [role=progressbar]`);
    expect(await row.getAttribute('aria-valuenow')).toBe('80');
    expect(await row.getAttribute('class')).toContain('bar--warning');
    await page.fill('input[name=subject]', subject.id);
    await Promise.all([page.waitForURL(`**/admin/ui/subjects/${subject.id}`), page.click('text=Open')]);
    const bar = (metric: string) => page.locator(`[data-usage-of="${subject.id}"] tr[data-metric="${metric}"] [role=progressbar]`);
    await expect.poll(() => bar('gens').getAttribute('aria-valuenow')).toBe('80');
    expect(await bar('gens').getAttribute('class')).toContain('bar--warning');
    expect(await bar('gens').locator('.bar__fill').getAttribute('style')).toBe('width:80%');
    expect(await bar('tokens').getAttribute('aria-valuenow')).toBe('97.5');
    expect(await bar('tokens').getAttribute('class')).toContain('bar--critical');
    expect(await page.evaluate("getComputedStyle(document.querySelector('tr[data-metric=gens] .bar__fill')).backgroundColor")).toBe('rgb(240, 162, 2)');

    // The feed reads from now on; then reset gens only.
    await page.locator('.feed-state[data-state=live]').waitFor();
    await page.check('input[name=metric][value=gens]');
    await page.fill('input[name=reason]', 'support ticket 42');
    await page.click('button.danger');
    await expect.poll(() => page.locator('[data-result]').textContent()).toBe('reset gens (was 8)');
    await expect.poll(() => bar('gens').getAttribute('aria-valuenow')).toBe('0');
    expect(await bar('gens').getAttribute('class')).toContain('bar--ok');
    expect(await bar('tokens').getAttribute('aria-valuenow')).toBe('97.5');
    const reset = page.locator('.feed li[data-kind=reset][data-metric=gens]');
    await reset.waitFor();
    expect(await reset.textContent()).toContain('admin:playwright: support ticket 42');

    // Decisions and denials of any gateway arrive too, and move the bar.
    expect((await consume(subject, [{ metric: 'gens', amount: 3 }])).status).toBe(200);
    expect((await consume(subject, [{ metric: 'gens', amount: 8 }])).status).toBe(402);
    await page.locator('.feed li[data-kind=consume][data-metric=gens]').waitFor();
    await page.locator('.feed li[data-kind=denied][data-metric=gens]').waitFor();
    await expect.poll(() => bar('gens').getAttribute('aria-valuenow')).toBe('30');

    // The session authenticates the JSON API, but a change without the CSRF token is refused.
    const forged = await page.evaluate(
      (url) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ reason: 'csrf' }) }).then((r) => r.status),
      `/admin/v1/subjects/${subject.id}/reset`,
    );
    expect(forged).toBe(403);
    expect(await gw.used(subject, 'gens')).toBe(3);

    // Once the worker has written the ledger, the page shows the reset in the ledger and the
    // audit trail, made by the logged-in name with the reason.
    const audited = page.locator('[data-audit] tr[data-action="usage.reset"]');
    await expect
      .poll(
        async () => {
          await page.reload();
          return audited.count();
        },
        { timeout: 10_000 },
      )
      .toBe(1);
    expect(await audited.textContent()).toMatch(/admin:playwright.*support ticket 42/);
    expect(await page.locator('[data-ledger] tr[data-kind=reset]').count()).toBe(1);
    expect(await page.locator('[data-ledger] tr[data-kind=denied]').count()).toBe(1);
    await context.close();
    await eventually('the feed tail to stop with its last listener', () => gw.gateway.deps.admin.outboxTail.listening === 0);
  });
});

describe('dashboard session and feed (no browser)', () => {
  async function login(): Promise<string> {
    const res = await gw.request('/admin/ui/login', { method: 'POST', body: new URLSearchParams({ token: TEST_ADMIN_TOKEN }), redirect: 'manual' });
    expect(res.status).toBe(303);
    return res.headers.get('set-cookie')!.split(';')[0]!;
  }

  it('refuses forged, tampered and missing sessions', async () => {
    const cookie = await login();
    expect((await gw.request('/admin/v1/subjects', { headers: { cookie } })).status).toBe(200);
    const tampered = cookie.replace(/=(.)/, (_, first: string) => `=${first === 'e' ? 'f' : 'e'}`);
    for (const bad of [tampered, 'qg_admin_session=eyJhIjpudWxsLCJlIjo5OTk5OTk5OTk5OTk5fQ.AAAA', '']) {
      expect((await gw.request('/admin/v1/subjects', { headers: { cookie: bad } })).status).toBe(401);
      expect((await gw.request('/admin/ui/feed', { headers: { cookie: bad } })).status).toBe(401);
      const page = await gw.request('/admin/ui', { headers: { cookie: bad }, redirect: 'manual' });
      expect([page.status, page.headers.get('location')]).toEqual([303, '/admin/ui/login']);
    }
  });

  it('logs out only with the CSRF token of the page, and sends its pages with a strict CSP', async () => {
    const cookie = await login();
    const page = await gw.request('/admin/ui', { headers: { cookie } });
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    const csrf = /<meta name="qg-csrf" content="([^"]+)"/.exec(await page.text())?.[1];
    expect(csrf).toBeDefined();
    const logout = (form: Record<string, string>) => gw.request('/admin/ui/logout', { method: 'POST', headers: { cookie }, body: new URLSearchParams(form), redirect: 'manual' });
    expect((await logout({})).status).toBe(403);
    const out = await logout({ csrf: csrf! });
    expect([out.status, out.headers.get('location')]).toEqual([303, '/admin/ui/login']);
    expect(out.headers.get('set-cookie')).toMatch(/^qg_admin_session=; Max-Age=0/);
  });

  it('fans one shared outbox tail out to every listener, and stops it when the last leaves', async () => {
    const cookie = await login();
    const subject = await subjectUsing(1, 1);
    const tail = gw.gateway.deps.admin.outboxTail;
    const open = async (query: string) => {
      const res = await gw.request(`/admin/ui/feed${query}`, { headers: { cookie } });
      expect(res.headers.get('content-type')).toContain('text/event-stream');
      const reader = new SseReader(res.body!);
      await reader.next(); // ready
      return reader;
    };
    const all = await open('');
    const mine = await open(`?subject=${subject.id}`);
    expect(tail.listening).toBe(2);
    expect((await consume(subject, [{ metric: 'gens', amount: 2 }])).status).toBe(200);
    const seen = async (reader: SseReader) => {
      for (;;) {
        const e = eventJson((await reader.next())!);
        if (e?.subject === subject.id) return e;
      }
    };
    expect(await seen(all)).toMatchObject({ kind: 'consume', metric: 'gens', delta: 2, value: 3 });
    expect(await seen(mine)).toMatchObject({ kind: 'consume', metric: 'gens', delta: 2, value: 3 });
    await all.cancel();
    await mine.cancel();
    await eventually('the tail to stop', () => tail.listening === 0);
  });

  it('ends open feeds when the gateway shuts down', async () => {
    const other = await startGatewayFixture({ policy });
    const login = await other.request('/admin/ui/login', { method: 'POST', body: new URLSearchParams({ token: TEST_ADMIN_TOKEN }), redirect: 'manual' });
    const feed = await other.request('/admin/ui/feed', { headers: { cookie: login.headers.get('set-cookie')!.split(';')[0]! } });
    const reader = new SseReader(feed.body!);
    await reader.next(); // ready
    await other.close();
    expect(await reader.rest()).toEqual([]);
    expect(other.gateway.deps.admin.outboxTail.listening).toBe(0);
  });
});
