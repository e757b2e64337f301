import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forecastJson } from '../../src/forecast/forecast-json.js';
import { FORECAST_BASIS_DAYS, forecastCounter } from '../../src/forecast/forecast.js';
import { ManualClock } from '../../src/lib/clock.js';
import { periodAt } from '../../src/lib/period.js';
import type { WorkerHandle } from '../../src/worker/worker.js';
import { gatewayTestPolicy, startGatewayFixture, type GatewayFixture, type TestSubject } from '../support/gateway.js';
import { startTestWorker, waitFor } from '../support/ledger-checks.js';
import { databaseUrl } from '../support/services.js';
import { startTcpProxy, targetOf } from '../support/tcp-proxy.js';
import { DAY, HOUR } from '../support/test-time.js';

/**
 * The usage history end to end: decisions and admin changes made by a gateway whose clock
 * walks through the last three weeks (across the period boundary of the calendar month),
 * flushed by a worker into the ledger and its rollups, read back through
 * GET /admin/v1/subjects/{id}/history and GET /v1/usage?history=30d, and compared with
 * what the test itself did, day by day.
 */

const policy = (upstream: string) => {
  const base = gatewayTestPolicy(upstream);
  return { ...base, plans: { ...base.plans, hist: { limits: { gens: 400, tokens: 100_000, exports: 5, projects: 5 } } } };
};

/** The real clock at load; the gateway's clock moves from three weeks before it back to it. */
const NOW = Date.now();
const TODAY = NOW - (NOW % DAY);
const clock = new ManualClock(NOW);
let gw: GatewayFixture;
let worker: WorkerHandle;
beforeAll(async () => {
  gw = await startGatewayFixture({ policy, clock });
  worker = await startTestWorker({ keys: gw.keys, redisUrl: gw.redisUrl, databaseUrl: databaseUrl(), policy: gw.policy });
});
afterAll(async () => {
  await worker?.close();
  await gw?.close();
});

/** What the test did to one metric: each change at its instant (a reset's delta is filled in when it happens). */
interface Change {
  at: number;
  metric: string;
  delta: number;
  kind: 'consume' | 'adjust' | 'reset' | 'denied';
}

const consume = (s: TestSubject, metric: string, amount: number) => gw.request('/v1/consume', { method: 'POST', key: s.key, json: { charges: [{ metric, amount }] } });
const ledgerEvents = async (s: TestSubject) => Number((await gw.pool.query<{ n: string }>('SELECT count(*) AS n FROM usage_events WHERE subject_id = $1', [s.id])).rows[0]!.n);

/** The counter in the period holding `t - 1` at `t`, from the changes, as usage_counters holds it. */
function levelAt(changes: readonly Change[], metric: string, t: number): number {
  const period = periodAt(t - 1).start;
  return changes.filter((c) => c.metric === metric && c.at < t && periodAt(c.at).start === period).reduce((sum, c) => sum + c.delta, 0);
}

describe('usage history', () => {
  let subject: TestSubject;
  const changes: Change[] = [];
  const usageOn = (metric: string, dayStart: number) =>
    changes.filter((c) => c.metric === metric && c.kind !== 'reset' && c.at >= dayStart && c.at < dayStart + DAY).reduce((s, c) => s + c.delta, 0);

  beforeAll(async () => {
    subject = await gw.createSubject({ plan: 'hist' });
    let events = 0;
    // 20 days of usage at 10:00 UTC, then a little today.
    for (let d = 20; d >= 1; d--) {
      clock.set(TODAY - d * DAY + 10 * HOUR);
      const amount = 5 + (d % 4) * 3;
      expect((await consume(subject, 'gens', amount)).status).toBe(200);
      changes.push({ at: clock.now(), metric: 'gens', delta: amount, kind: 'consume' });
      events++;
      if (d === 5) {
        clock.set(clock.now() + 2 * HOUR);
        const adjusted = await gw.admin(`/admin/v1/subjects/${subject.id}/adjust`, { method: 'POST', json: { metric: 'gens', delta: -2, reason: 'history test' } });
        expect(adjusted.status).toBe(200);
        changes.push({ at: clock.now(), metric: 'gens', delta: -2, kind: 'adjust' });
        events++;
      }
      if (d === 3) {
        clock.set(clock.now() + 3 * HOUR);
        const previous = levelAt(changes, 'gens', clock.now() + 1);
        const reset = await gw.admin(`/admin/v1/subjects/${subject.id}/reset`, { method: 'POST', json: { metrics: ['gens'], reason: 'history test' } });
        expect(((await reset.json()) as { reset: { previous: number }[] }).reset).toEqual([{ metric: 'gens', previous }]);
        changes.push({ at: clock.now(), metric: 'gens', delta: -previous, kind: 'reset' });
        events++;
      }
      if (d === 2) {
        // 5 exports allowed, the next 2 denied.
        expect((await consume(subject, 'exports', 5)).status).toBe(200);
        expect((await consume(subject, 'exports', 2)).status).toBe(402);
        changes.push({ at: clock.now(), metric: 'exports', delta: 5, kind: 'consume' }, { at: clock.now(), metric: 'exports', delta: 0, kind: 'denied' });
        events += 2;
      }
    }
    clock.set(NOW);
    expect((await consume(subject, 'gens', 7)).status).toBe(200);
    changes.push({ at: NOW, metric: 'gens', delta: 7, kind: 'consume' });
    events++;
    await waitFor('the worker to write every event to the ledger', async () => (await ledgerEvents(subject)) === events);
  });

  it('answers usage per day, today per hour, and each day-end level, as the ledger has them', async () => {
    const res = await gw.admin(`/admin/v1/subjects/${subject.id}/history?days=30`);
    expect(res.status).toBe(200);
    const h = (await res.json()) as {
      days: number;
      from: string;
      to: string;
      metrics: {
        metric: string;
        daily: { date: string; usage: number; reset: number; charges: number; denials: number; level: number }[];
        hourly: { start: string; usage: number }[];
        used: number;
      }[];
    };
    expect(h.days).toBe(30);
    expect(h.from).toBe(new Date(TODAY - 29 * DAY).toISOString());
    expect(h.to).toBe(new Date(NOW).toISOString());
    const gens = h.metrics.find((m) => m.metric === 'gens')!;
    expect(gens.daily).toHaveLength(30);
    const expected = Array.from({ length: 30 }, (_, i) => {
      const start = TODAY - (29 - i) * DAY;
      const resets = changes.filter((c) => c.metric === 'gens' && c.kind === 'reset' && c.at >= start && c.at < start + DAY);
      return {
        date: new Date(start).toISOString().slice(0, 10),
        usage: usageOn('gens', start),
        reset: resets.reduce((s, c) => s - c.delta, 0),
        charges: changes.filter((c) => c.metric === 'gens' && c.kind === 'consume' && c.at >= start && c.at < start + DAY).length,
        denials: 0,
        // Today's level is now's, the latest change included.
        level: levelAt(changes, 'gens', Math.min(start + DAY, NOW + 1)),
      };
    });
    expect(gens.daily).toEqual(expected);
    // The level starts again at 0 in the new period (unless today is its first day) and drops at the reset.
    expect(gens.daily.at(-1)!.level).toBe(gens.used);

    // Today, hour by hour: the 7 gens in the current hour.
    const hours = Math.floor((NOW - TODAY) / HOUR) + 1;
    expect(gens.hourly).toHaveLength(hours);
    expect(gens.hourly.map((b) => b.usage)).toEqual(Array.from({ length: hours }, (_, i) => (i === hours - 1 ? 7 : 0)));

    const exports = h.metrics.find((m) => m.metric === 'exports')!;
    const denialDay = exports.daily.find((d) => d.date === new Date(TODAY - 2 * DAY).toISOString().slice(0, 10))!;
    expect(denialDay).toMatchObject({ usage: 5, charges: 1, denials: 1 });
  });

  it('forecasts each counter from its last 14 complete days and the live usage; gauges and quiet counters get none', async () => {
    const res = await gw.admin(`/admin/v1/subjects/${subject.id}/history?days=30&metric=gens`);
    const body = (await res.json()) as { metrics: { metric: string; used: number; remaining: number; forecast: unknown; projection: { at: string; used: number }[] }[] };
    expect(body.metrics.map((m) => m.metric)).toEqual(['gens']);
    const gens = body.metrics[0]!;
    const daily = Array.from({ length: FORECAST_BASIS_DAYS }, (_, i) => usageOn('gens', TODAY - (FORECAST_BASIS_DAYS - i) * DAY));
    const period = periodAt(NOW);
    const expected = forecastCounter({ now: NOW, period, used: gens.used, remaining: gens.remaining, daily })!;
    expect(gens.forecast).toEqual(forecastJson(expected));
    expect(gens.forecast).toMatchObject({ estimate: true, basis_days: 14 });
    expect(gens.projection.at(-1)).toEqual({ at: new Date(period.end).toISOString(), used: expected.projectedUsed });

    // The same forecast in GET /v1/usage and the admin subject; none for the gauge or for
    // tokens (never used), nor for a subject on an unlimited plan.
    const usage = (await (await gw.request('/v1/usage', { key: subject.key })).json()) as { metrics: { metric: string; forecast: unknown }[] };
    const forecasts = Object.fromEntries(usage.metrics.map((m) => [m.metric, m.forecast]));
    expect(forecasts).toEqual({ gens: forecastJson(expected), tokens: null, exports: null, projects: null });
    const detail = (await (await gw.admin(`/admin/v1/subjects/${subject.id}`)).json()) as { metrics: { metric: string; forecast: unknown }[] };
    expect(detail.metrics.find((m) => m.metric === 'gens')!.forecast).toEqual(forecastJson(expected));
  });

  it('answers GET /v1/usage?history=30d with compact arrays of the same days', async () => {
    const [compact, full] = (await Promise.all([
      gw.request('/v1/usage?history=30d', { key: subject.key }).then((r) => r.json()),
      gw.admin(`/admin/v1/subjects/${subject.id}/history?days=30`).then((r) => r.json()),
    ])) as [
      { metrics: { metric: string; history: { from: string; daily: number[]; hourly: number[] } }[] },
      { metrics: { metric: string; daily: { usage: number }[]; hourly: { usage: number }[] }[] },
    ];
    for (const m of compact.metrics) {
      const same = full.metrics.find((f) => f.metric === m.metric)!;
      expect(m.history).toEqual({ from: new Date(TODAY - 29 * DAY).toISOString().slice(0, 10), daily: same.daily.map((d) => d.usage), hourly: same.hourly.map((b) => b.usage) });
    }
    const week = (await (await gw.request('/v1/usage?history=7d', { key: subject.key })).json()) as { metrics: { history: { daily: number[] } }[] };
    expect(week.metrics[0]!.history.daily).toHaveLength(7);
  });

  it('refuses a history that is not 1 to 90 whole days, naming the field', async () => {
    for (const bad of ['0d', '91d', '30', 'd', '1.5d', '30days']) {
      const res = await gw.request(`/v1/usage?history=${bad}`, { key: subject.key });
      expect(res.status, bad).toBe(400);
      expect(await res.json()).toMatchObject({ code: 'invalid_request', field: 'history' });
    }
    for (const bad of ['0', '91', 'x']) {
      const res = await gw.admin(`/admin/v1/subjects/${subject.id}/history?days=${bad}`);
      expect(res.status, bad).toBe(400);
      expect(await res.json()).toMatchObject({ code: 'invalid_request', field: 'days' });
    }
    expect((await gw.admin(`/admin/v1/subjects/${subject.id}/history?metric=nope`)).status).toBe(400);
    expect((await gw.admin('/admin/v1/subjects/no-such-subject/history')).status).toBe(404);
  });

  it('gives no forecast on an unlimited plan', async () => {
    const unlimited = await gw.createSubject({ plan: 'unlimited' });
    clock.set(NOW - 5 * DAY);
    for (let d = 5; d >= 1; d--) {
      clock.set(TODAY - d * DAY + HOUR);
      expect((await consume(unlimited, 'gens', 100)).status).toBe(200);
    }
    clock.set(NOW);
    await waitFor('the ledger', async () => (await ledgerEvents(unlimited)) === 5);
    const h = (await (await gw.admin(`/admin/v1/subjects/${unlimited.id}/history?days=7&metric=gens`)).json()) as { metrics: { daily: { usage: number }[]; forecast: unknown }[] };
    expect(h.metrics[0]!.daily.map((d) => d.usage)).toEqual([0, 100, 100, 100, 100, 100, 0]);
    expect(h.metrics[0]!.forecast).toBeNull();
  });
});

describe('usage history without Postgres', () => {
  it('answers GET /v1/usage without forecasts, and a history request 503', async () => {
    const postgres = await startTcpProxy(targetOf(databaseUrl()));
    const day = new ManualClock(NOW);
    // The key must stay usable for the day the clock moves while Postgres is away (QG_AUTH_STALE_SECONDS, default 2 h).
    const env = { DATABASE_URL: postgres.rewrite(databaseUrl()), QG_AUTH_CACHE_TTL_MS: '300000', QG_AUTH_STALE_SECONDS: String(2 * 86_400) };
    const f = await startGatewayFixture({ policy, clock: day, env });
    try {
      const s = await f.createSubject({ plan: 'hist' });
      expect((await f.request('/v1/usage', { key: s.key })).status).toBe(200); // the key is cached now
      postgres.block();
      // The next day: the forecast basis is read again, and Postgres does not answer.
      day.advance(DAY);
      const res = await f.request('/v1/usage', { key: s.key });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { metrics: { metric: string; used: number; forecast: unknown }[] };
      expect(body.metrics.map((m) => [m.metric, m.used, m.forecast])).toEqual([
        ['gens', 0, null],
        ['tokens', 0, null],
        ['exports', 0, null],
        ['projects', 0, null],
      ]);
      const history = await f.request('/v1/usage?history=30d', { key: s.key });
      expect(history.status).toBe(503);
      expect(history.headers.get('retry-after')).toBe('1');
    } finally {
      await f.close();
      await postgres.close();
    }
  });
});
