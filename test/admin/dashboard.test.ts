import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM_ARGS, ensureChromium } from '../support/chromium.js';
import { gatewayTestPolicy, startGatewayFixture, TEST_ADMIN_TOKEN, type GatewayFixture, type TestSubject } from '../support/gateway.js';
import { startTestWorker, waitFor } from '../support/ledger-checks.js';
import { databaseUrl } from '../support/services.js';
import { eventJson, eventually, SseReader } from '../support/sse-client.js';
import { DAY, HOUR, ShiftedClock } from '../support/test-time.js';
import type { WorkerHandle } from '../../src/worker/worker.js';

/**
 * The admin dashboard in a real headless Chromium (Debian's package, installed by
 * ensureChromium when missing): login, usage bars, reset, live feed, the 30-day charts and
 * forecasts, grants, plan changes, adjustments, the overview; and the feed's shared tail
 * and the session's checks without a browser. QG_SCREENSHOT_DIR=dir saves screenshots.
 */

// Installs Chromium on first use (a while, once per machine); skips with the reason where it can't.
const browserPath = ensureChromium();

/**
 * dash: 10 gens, 8 used is 80 % (warning); 1000 tokens, 975 used is 97.5 % (critical).
 * chart: room for three weeks of history; tiny: one project, a downgrade from three is blocked.
 */
const policy = (upstream: string) => {
  const base = gatewayTestPolicy(upstream);
  return {
    ...base,
    plans: {
      ...base.plans,
      dash: { limits: { gens: 10, tokens: 1000, exports: 5, projects: 5 } },
      chart: { limits: { gens: 400, tokens: 100_000, exports: 5, projects: 5 } },
      tiny: { limits: { gens: 1, tokens: 100, exports: 1, projects: 1 } },
    },
  };
};

/** The gateway's clock: the real one, moved back to make history. */
const clock = new ShiftedClock();
let gw: GatewayFixture;
beforeAll(async () => {
  gw = await startGatewayFixture({ policy, clock });
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

/** Saves a full-page screenshot to QG_SCREENSHOT_DIR, when set (to look at the pages). */
async function screenshot(page: Page, name: string): Promise<void> {
  const dir = process.env.QG_SCREENSHOT_DIR;
  if (dir) await page.screenshot({ path: `${dir}/dashboard-${name}.png`, fullPage: true });
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
    const resetForm = page.locator('form[data-action=reset]');
    await resetForm.locator('input[name=metrics][value=gens]').check();
    await resetForm.locator('input[name=reason]').fill('support ticket 42');
    await resetForm.locator('button[type=submit]').click();
    await expect.poll(() => resetForm.locator('[data-result]').textContent()).toBe('reset gens (was 8)');
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

  it('draws 30 days of usage with the limit and the forecast, and denials per day; grants, changes the plan, adjusts, revokes; the overview', async () => {
    // Three weeks of history, made by the gateway at 10:00 UTC on each day (across the calendar
    // month's boundary when there is one), a quota denial two days ago, 3 projects, and today.
    const now = Date.now();
    const today = now - (now % DAY);
    const subject = await gw.createSubject({ plan: 'chart' });
    const ledgerEvents = async () => Number((await gw.pool.query<{ n: string }>('SELECT count(*) AS n FROM usage_events WHERE subject_id = $1', [subject.id])).rows[0]!.n);
    let events = 0;
    for (let d = 21; d >= 1; d--) {
      clock.at(today - d * DAY + 10 * HOUR);
      expect((await consume(subject, [{ metric: 'gens', amount: 8 + (d % 4) * 2 }])).status).toBe(200);
      events++;
      if (d === 2) {
        expect((await consume(subject, [{ metric: 'exports', amount: 6 }])).status).toBe(402);
        events++;
      }
    }
    clock.offset = 0;
    expect(
      (
        await consume(subject, [
          { metric: 'gens', amount: 5 },
          { metric: 'projects', amount: 3 },
        ])
      ).status,
    ).toBe(200);
    events += 2;
    await waitFor('the ledger to hold every event', async () => (await ledgerEvents()) === events);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, read field by field by the assertions
    const api = async (path: string) => (await gw.admin(path)).json() as Promise<any>;
    const history = await api(`/admin/v1/subjects/${subject.id}/history?days=30&metric=gens`);

    // New York: local times differ from UTC, so the page's conversion shows.
    context = await browser.newContext({ baseURL: gw.url, timezoneId: 'America/New_York', viewport: { width: 1440, height: 900 } });
    const page = await context.newPage();
    await page.goto('/admin/ui/login');
    await page.fill('#token', TEST_ADMIN_TOKEN);
    await page.fill('#name', 'playwright');
    await Promise.all([page.waitForURL('**/admin/ui'), page.click('button[type=submit]')]);
    await page.goto(`/admin/ui/subjects/${subject.id}`);

    const chart = page.locator('svg[data-chart=usage][data-metric=gens]');
    expect(await chart.locator('rect.day').count()).toBe(30);
    expect(await chart.locator('circle.point').count()).toBe(30);
    // The bars are the days' usage: today's is 5, the day before 8 + 2 = 10; days before the history, none.
    const barHeight = async (date: string) => Number(await chart.locator(`rect.day[data-date="${date}"]`).getAttribute('height'));
    const dateOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);
    expect(await barHeight(dateOf(today - 29 * DAY))).toBe(0);
    expect(await barHeight(dateOf(today - DAY))).toBeGreaterThan(await barHeight(dateOf(today)));
    expect(await chart.locator(`rect.day[data-date="${dateOf(today)}"] title`).textContent()).toBe(`${dateOf(today)} (UTC, so far): 5 used`);
    expect(await chart.locator('line.limit, .limit line').count()).toBe(1);
    expect(history.metrics[0].forecast).toMatchObject({ estimate: true, basis_days: 14 });
    const forecastLine = chart.locator('polyline.forecast');
    const points = (await forecastLine.getAttribute('points'))!.trim().split(/\s+/);
    expect(points).toHaveLength(history.metrics[0].projection.length + 1);
    expect(await page.locator('[data-history-of=gens] [data-forecast]').textContent()).toContain(
      `Projected ${history.metrics[0].forecast.projected_used.toLocaleString('en-US')} of 400`,
    );
    // A gauge draws its level and has no forecast.
    expect(await page.locator('svg[data-chart=usage][data-metric=projects] polyline.forecast').count()).toBe(0);

    const denials = page.locator('svg[data-chart=denials]');
    expect(await denials.locator('rect.day').count()).toBe(30);
    expect(await denials.locator(`rect.day[data-date="${dateOf(today - 2 * DAY)}"] title`).textContent()).toBe(`${dateOf(today - 2 * DAY)} (UTC): 1 denied (exports 1)`);
    expect(Number(await denials.locator(`rect.day[data-date="${dateOf(today - 2 * DAY)}"]`).getAttribute('height'))).toBeGreaterThan(0);

    // Times in New York time, the UTC value on hover.
    const periodEnd = page.locator('p time').nth(1);
    const utc = (await periodEnd.getAttribute('datetime'))!;
    expect(await periodEnd.getAttribute('title')).toBe(`${new Date(utc).toISOString()} (UTC)`);
    expect(await periodEnd.textContent()).toBe(new Date(utc).toLocaleString('en-US', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'America/New_York' }));
    await screenshot(page, 'subject');

    // Grant credits: the API's answer in words, the grant in the table, then audited.
    const grant = page.locator('form[data-action=grant]');
    await grant.locator('select[name=metric]').selectOption('gens');
    await grant.locator('input[name=amount]').fill('50');
    await grant.locator('input[name=reason]').fill('ticket 7');
    await grant.locator('button[type=submit]').click();
    await expect.poll(() => grant.locator('[data-result]').textContent()).toMatch(/^granted 50 gens \(\S+\); gens grant balance 50$/);
    const grants = (await api(`/admin/v1/subjects/${subject.id}/grants`)).items as { id: string; metric: string; remaining: number }[];
    expect(grants).toEqual([expect.objectContaining({ metric: 'gens', remaining: 50 })]);
    await page.locator(`[data-grants] tr[data-grant="${grants[0]!.id}"]`).waitFor();

    // A downgrade below the 3 projects is refused with what must go; forced, it applies.
    const plan = page.locator('form[data-action=plan]');
    await plan.locator('select[name=plan]').selectOption('tiny');
    await plan.locator('input[name=reason]').fill('customer asked');
    await plan.locator('button[type=submit]').click();
    await expect.poll(() => plan.locator('[data-result]').textContent()).toBe('Downgrade blocked: delete 2 projects first, or tick "force" to apply it anyway.');
    expect((await api(`/admin/v1/subjects/${subject.id}`)).plan).toBe('chart');
    await plan.locator('input[name=force]').check();
    await plan.locator('input[name=reason]').fill('customer asked, projects to be deleted');
    await plan.locator('button[type=submit]').click();
    await expect.poll(() => plan.locator('[data-result]').textContent()).toBe('plan is tiny now');
    expect(await page.locator('[data-plan]').textContent()).toBe('tiny');
    expect((await api(`/admin/v1/subjects/${subject.id}`)).plan).toBe('tiny');
    const [changed] = (await api(`/admin/v1/audit?subject=${subject.id}&action=subject.changed`)).items;
    expect(changed).toMatchObject({
      actor: 'admin:playwright',
      reason: 'customer asked, projects to be deleted',
      details: { from: { plan: 'chart' }, to: { plan: 'tiny' }, forced: true },
    });

    // Adjust, and revoke the grant (the reason asked in a dialog).
    const adjust = page.locator('form[data-action=adjust]');
    await adjust.locator('select[name=metric]').selectOption('gens');
    await adjust.locator('input[name=delta]').fill('-5');
    await adjust.locator('input[name=reason]').fill('double charge');
    await adjust.locator('button[type=submit]').click();
    await expect.poll(() => adjust.locator('[data-result]').textContent()).toMatch(/^gens is \d+ now \(moved by -5\)$/);
    page.once('dialog', (dialog) => void dialog.accept('granted by mistake'));
    await page.locator(`tr[data-grant="${grants[0]!.id}"] button[data-revoke-url]`).click();
    await expect.poll(() => page.locator('[data-grants-result]').textContent()).toBe(`revoked ${grants[0]!.id}: 50 gens no longer usable`);
    expect((await api(`/admin/v1/subjects/${subject.id}/grants`)).items).toEqual([]);

    // The changes made in Redis are audited with their ledger events, by the logged-in name.
    const audited = await waitFor('the audit entries of the grant, the adjustment and the revocation', async () => {
      const { items } = await api(`/admin/v1/audit?subject=${subject.id}`);
      const actions = (items as { action: string }[]).map((a) => a.action);
      return ['grant.created', 'usage.adjusted', 'grant.revoked'].every((a) => actions.includes(a)) ? (items as { action: string; actor: string; reason: string }[]) : null;
    });
    expect(audited.filter((a) => a.action !== 'subject.changed').map((a) => [a.action, a.actor, a.reason])).toEqual([
      ['grant.revoked', 'admin:playwright', 'granted by mistake'],
      ['usage.adjusted', 'admin:playwright', 'double charge'],
      ['grant.created', 'admin:playwright', 'ticket 7'],
    ]);

    // On "tiny" every metric is over its limit: the overview lists the subject (the worker
    // notified the thresholds with the adjustment's event), and draws the denials.
    await waitFor('the threshold notification', async () => (await gw.pool.query('SELECT 1 FROM notifications WHERE subject_id = $1', [subject.id])).rowCount! > 0);
    await page.click('header a[href="/admin/ui/overview"]');
    await page.locator(`[data-near-limit] tr[data-subject="${subject.id}"][data-metric=gens]`).waitFor();
    expect(await page.locator(`[data-near-limit] tr[data-subject="${subject.id}"][data-metric=gens] [role=progressbar]`).getAttribute('data-status')).toBe('exceeded');
    expect(await page.locator('svg[data-chart=denials] rect.day').count()).toBe(30);
    expect(await page.locator('[data-tile]').count()).toBe(4);
    expect(await page.locator('[data-tile=dead-letters] .tile__value').textContent()).toMatch(/^\d+$/);
    expect(await page.locator('[data-top=gens]').count()).toBe(1);
    await screenshot(page, 'overview');
    const overview = await api('/admin/v1/overview');
    expect(overview.near_limit).toContainEqual(expect.objectContaining({ subject: subject.id, metric: 'gens', status: 'exceeded' }));
    expect(overview.denials.daily).toHaveLength(30);
    await context.close();
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
