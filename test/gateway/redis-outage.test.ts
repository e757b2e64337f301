import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGatewayFixture, type GatewayFixture, type TestSubject } from '../support/gateway.js';
import { startPrivateRedis, type PrivateRedis } from '../support/redis-server.js';

/**
 * The gateway while its Redis is gone (stopped), frozen (SIGSTOP: connections stay open but
 * nothing answers) and back (restarted empty). Routes with `when_redis_down: closed` (the
 * default) answer 503 backend_unavailable with Retry-After; `open` routes pass and are
 * counted; nothing hangs; decisions resume by themselves once Redis returns.
 *
 * The tests run in order and share one private Redis and one gateway.
 */

/** Every request gets this long before the test fails instead of hanging the suite. */
const REQUEST_BUDGET_MS = 5_000;

let redis: PrivateRedis;
let gw: GatewayFixture;
let subject: TestSubject;

beforeAll(async () => {
  redis = await startPrivateRedis();
  gw = await startGatewayFixture({ redisUrl: redis.url, env: { QG_REDIS_COMMAND_TIMEOUT_MS: '250' } });
  // The fixture's inspection client reconnects in the background while Redis is down.
  gw.redis.on('error', () => {});
  subject = await gw.createSubject({ plan: 'unlimited' });
});
afterAll(async () => {
  // Whatever happened, never leave a frozen server behind.
  const pid = redis?.pid;
  if (pid !== undefined) {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // already gone
    }
  }
  await gw?.close();
  await redis?.dispose();
});

interface Timed {
  status: number;
  headers: Headers;
  text: string;
  ms: number;
}

/**
 * A request with a hard deadline: a hang fails this test rather than the suite. Logs its
 * latency for the record (unless `label` is null, for polls); asserts nothing about it.
 */
async function timed(label: string | null, path: string, init: { method?: string; key?: string; json?: unknown } = {}): Promise<Timed> {
  const started = performance.now();
  const res = await gw.request(path, { ...init, signal: AbortSignal.timeout(REQUEST_BUDGET_MS) });
  const text = await res.text();
  const ms = Math.round(performance.now() - started);
  if (label !== null) console.log(`[redis-outage] ${label}: ${init.method ?? 'GET'} ${path} → ${res.status} in ${ms} ms`);
  return { status: res.status, headers: res.headers, text, ms };
}

function expectBackendUnavailable(r: Timed): void {
  expect(r.status, r.text).toBe(503);
  expect(r.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(JSON.parse(r.text)).toMatchObject({ status: 503, code: 'backend_unavailable' });
  const retryAfter = r.headers.get('retry-after');
  expect(retryAfter).toMatch(/^\d+$/);
  expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
}

/** The value of one Prometheus sample, 0 when it is not there yet. */
async function metricValue(name: string, labels: string): Promise<number> {
  const r = await timed(null, '/metrics');
  expect(r.status).toBe(200);
  const line = r.text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

async function readyz(label: string | null = 'readyz'): Promise<{ status: number; checks: Record<string, boolean> }> {
  const r = await timed(label, '/readyz');
  return { status: r.status, checks: (JSON.parse(r.text) as { checks: Record<string, boolean> }).checks };
}

const exportReq = () => ({ method: 'POST', key: subject.key, json: { format: 'csv' } });
const consumeReq = () => ({ method: 'POST', key: subject.key, json: { charges: [{ metric: 'gens', amount: 1 }] } });

/** Polls until `probe` is true; fails after `timeoutMs`. */
async function eventually(what: string, probe: () => Promise<boolean>, timeoutMs = 10_000): Promise<number> {
  const started = performance.now();
  for (;;) {
    if (await probe()) return Math.round(performance.now() - started);
    if (performance.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('Redis outage', () => {
  it('works normally while Redis is up', async () => {
    expect((await timed('up', '/v1/exports', exportReq())).status).toBe(202);
    expect((await timed('up', '/v1/consume', consumeReq())).status).toBe(200);
    expect((await timed('up', '/v1/projects', { key: subject.key })).status).toBe(200);
    expect(await readyz()).toEqual({ status: 200, checks: { redis: true, scripts: true, postgres: true } });
    expect(await gw.used(subject, 'exports')).toBe(1);
  });

  it('Redis stopped: closed routes and the API answer 503 + Retry-After, open routes pass and are counted, /readyz is 503', async () => {
    await redis.stop();
    const upstreamBefore = gw.upstream.requests.length;
    const failOpenBefore = await metricValue('quotagate_fail_open_total', 'route="list-projects"');

    expectBackendUnavailable(await timed('stopped', '/v1/exports', exportReq()));
    expectBackendUnavailable(await timed('stopped', '/v1/chat/completions', { method: 'POST', key: subject.key, json: { messages: [], max_tokens: 1 } }));
    expectBackendUnavailable(await timed('stopped', '/v1/consume', consumeReq()));
    expectBackendUnavailable(await timed('stopped', '/v1/usage', { key: subject.key }));
    // A closed route never reached the upstream.
    expect(gw.upstream.requests.slice(upstreamBefore).filter((r) => r.path !== '/v1/projects')).toEqual([]);

    for (let i = 0; i < 3; i++) {
      const open = await timed('stopped', '/v1/projects', { key: subject.key });
      expect(open.status, open.text).toBe(200);
      expect(JSON.parse(open.text)).toMatchObject({ object: 'list' });
    }
    expect(gw.upstream.requests.slice(upstreamBefore).filter((r) => r.path === '/v1/projects')).toHaveLength(3);
    expect(await metricValue('quotagate_fail_open_total', 'route="list-projects"')).toBe(failOpenBefore + 3);

    const ready = await readyz();
    expect(ready.status).toBe(503);
    expect(ready.checks).toMatchObject({ redis: false, postgres: true });

    // Authentication lives in Postgres: a bad key is still a 401, not a 503.
    const anonymous = await timed('stopped', '/v1/exports', { method: 'POST', json: {} });
    expect(anonymous.status).toBe(401);
    // Liveness does not depend on Redis.
    expect((await timed('stopped', '/healthz')).status).toBe(200);
  });

  it('Redis back (restarted empty): decisions resume by themselves and /readyz returns to 200', async () => {
    await redis.restart();
    const waited = await eventually('a closed route is allowed again', async () => {
      const r = await timed(null, '/v1/exports', exportReq());
      return r.status === 202;
    });
    console.log(`[redis-outage] decisions resumed ${waited} ms after the restart`);
    const readyAfter = await eventually('/readyz is 200', async () => (await readyz(null)).status === 200);
    console.log(`[redis-outage] /readyz was 200 again ${readyAfter} ms later`);
    expect((await readyz()).checks).toEqual({ redis: true, scripts: true, postgres: true });

    // Every kind of request works again: API decisions, usage, reservations, open routes.
    expect((await timed('restarted', '/v1/consume', consumeReq())).status).toBe(200);
    expect((await timed('restarted', '/v1/usage', { key: subject.key })).status).toBe(200);
    const chat = await timed('restarted', '/v1/chat/completions', { method: 'POST', key: subject.key, json: { messages: [], max_tokens: 5 } });
    expect(chat.status, chat.text).toBe(200);
    expect((await timed('restarted', '/v1/projects', { key: subject.key })).status).toBe(200);
    // A subject that never used Redis before the outage is decided too.
    const fresh = await gw.createSubject();
    const charge = (amount: number) => ({ method: 'POST', key: fresh.key, json: { charges: [{ metric: 'exports', amount }] } });
    expect((await timed('restarted', '/v1/consume', charge(5))).status).toBe(200);
    // Real decisions, not a pass-through: the quota is enforced again.
    const denied = await timed('restarted', '/v1/consume', charge(1));
    expect(denied.status).toBe(402);
    expect(JSON.parse(denied.text)).toMatchObject({ code: 'quota_exceeded', metric: 'exports' });
  });

  it('Redis frozen (SIGSTOP): closed routes still answer 503 within the command timeout instead of hanging', async () => {
    const pid = redis.pid!;
    expect(pid).toBeGreaterThan(0);
    const refused: string[] = [];
    process.kill(pid, 'SIGSTOP');
    try {
      const failOpenBefore = await metricValue('quotagate_fail_open_total', 'route="list-projects"');
      for (let i = 0; i < 3; i++) {
        const r = await timed('frozen', '/v1/exports', exportReq());
        expectBackendUnavailable(r);
        refused.push(r.headers.get('x-request-id')!);
      }
      const r = await timed('frozen', '/v1/consume', consumeReq());
      expectBackendUnavailable(r);
      refused.push(r.headers.get('x-request-id')!);
      const open = await timed('frozen', '/v1/projects', { key: subject.key });
      expect(open.status).toBe(200);
      expect(await metricValue('quotagate_fail_open_total', 'route="list-projects"')).toBe(failOpenBefore + 1);
      const ready = await readyz();
      expect(ready.status).toBe(503);
      expect(ready.checks.redis).toBe(false);
    } finally {
      process.kill(pid, 'SIGCONT');
    }

    // Thawed: the same connection answers again, no reconnect needed.
    await eventually('decisions resume after SIGCONT', async () => (await timed(null, '/v1/exports', exportReq())).status === 202);
    await eventually('/readyz is 200 after SIGCONT', async () => (await readyz(null)).status === 200);

    // The scripts of the 503 answers were still queued on the connection and ran on thawing:
    // past their deadline, they were refused, so none of those requests was charged.
    const events = await gw.events(subject);
    expect(events.filter((e) => refused.some((id) => e.id.startsWith(`${id}:`)))).toEqual([]);
  });

  it('the gateway process never crashed: it still serves', async () => {
    expect((await timed('end', '/healthz')).status).toBe(200);
    expect((await timed('end', '/v1/consume', consumeReq())).status).toBe(200);
  });
});
