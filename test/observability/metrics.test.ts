import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkerHandle } from '../../src/worker/worker.js';
import { startGatewayFixture, type GatewayFixture, type TestSubject } from '../support/gateway.js';
import { startTestWorker, waitFor, waitForDrain } from '../support/ledger-checks.js';
import { startPrivateRedis, type PrivateRedis } from '../support/redis-server.js';
import { databaseUrl } from '../support/services.js';
import { startTcpProxy, targetOf, type TcpProxy } from '../support/tcp-proxy.js';

/**
 * GET /metrics after real traffic: every family the README lists is there with the labels
 * and values that traffic implies. The gateway's and the worker's registries are scraped
 * over HTTP, the worker's from its own port (QG_WORKER_METRICS_PORT).
 */

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition (enough of the format for these checks). */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1]!, l[2]!]));
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

const scrape = async (url: string): Promise<Sample[]> => {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  return parseExposition(await res.text());
};

/** The value of the one sample of `name` whose labels include `labels` (0 when none). */
function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  expect(found.length, `${name} ${JSON.stringify(labels)}: ${found.length} samples`).toBeLessThanOrEqual(1);
  return found[0]?.value ?? 0;
}

describe('gateway and worker metrics', () => {
  let f: GatewayFixture;
  let worker: WorkerHandle;
  let subject: TestSubject;

  beforeAll(async () => {
    f = await startGatewayFixture();
    worker = await startTestWorker({
      keys: f.keys,
      redisUrl: f.redisUrl,
      databaseUrl: databaseUrl(),
      policy: f.policy,
      env: { HOST: '127.0.0.1', QG_WORKER_METRICS_PORT: '0' },
    });
    subject = await f.createSubject();
  });

  afterAll(async () => {
    await worker?.close();
    await f?.close();
  });

  it('counts decisions by route, metric and outcome, with decision and upstream latency', async () => {
    const chat = (headers: Record<string, string> = {}) =>
      f.request('/v1/chat/completions', { method: 'POST', key: subject.key, headers, json: { messages: [{ role: 'user', content: 'hi' }], max_tokens: 20 } });
    expect((await chat()).status).toBe(200);
    expect((await chat({ 'x-demo-status': '500' })).status).toBe(500);
    const tooMuch = await f.request('/v1/consume', { method: 'POST', key: subject.key, json: { charges: [{ metric: 'exports', amount: 6 }] } });
    expect(tooMuch.status).toBe(402);
    expect(tooMuch.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect((await f.request('/v1/projects', { method: 'POST', key: subject.key, json: { name: 'p' } })).status).toBeLessThan(300);
    const reservation = await f.request('/v1/reservations', { method: 'POST', key: subject.key, json: { charges: [{ metric: 'tokens', amount: 10 }] } });
    expect(reservation.status).toBe(201);
    const { id } = (await reservation.json()) as { id: string };
    expect((await f.request(`/v1/reservations/${id}`, { method: 'DELETE', key: subject.key })).status).toBe(200);
    await f.settled();

    const m = await scrape(`${f.url}/metrics`);
    expect(valueOf(m, 'quotagate_decisions_total', { route: 'chat', outcome: 'allowed' })).toBe(2);
    expect(valueOf(m, 'quotagate_decisions_total', { route: 'api:consume', metric: 'exports', outcome: 'denied_quota' })).toBe(1);
    expect(valueOf(m, 'quotagate_decisions_total', { route: 'create-project', outcome: 'allowed' })).toBe(1);
    expect(valueOf(m, 'quotagate_decisions_total', { route: 'api:reserve', outcome: 'allowed' })).toBe(1);
    expect(valueOf(m, 'quotagate_decision_seconds_count', { route: 'chat' })).toBe(2);
    expect(valueOf(m, 'quotagate_decision_seconds_count', { route: 'api:consume' })).toBe(1);
    expect(valueOf(m, 'quotagate_upstream_seconds_count', { route: 'chat', status: '2xx' })).toBe(1);
    expect(valueOf(m, 'quotagate_upstream_seconds_count', { route: 'chat', status: '5xx' })).toBe(1);
    expect(valueOf(m, 'quotagate_upstream_seconds_bucket', { route: 'chat', status: '2xx', le: '+Inf' })).toBe(1);
  });

  it('shows outbox length and lag per partition, flush batch sizes and reconciliation drift from the worker', async () => {
    const partition = String(f.keys.partitionOf(subject.id));
    // Before a flush, the subject's events wait in its partition's outbox.
    const before = await scrape(worker.metricsUrl!);
    expect(valueOf(before, 'quotagate_outbox_length', { partition: '0' })).toBeGreaterThanOrEqual(0);
    expect(before.filter((s) => s.name === 'quotagate_outbox_lag_seconds')).toHaveLength(f.keys.partitions);

    await waitForDrain(f.redis, f.keys);
    const flushed = await scrape(worker.metricsUrl!);
    expect(valueOf(flushed, 'quotagate_outbox_length', { partition })).toBe(0);
    expect(valueOf(flushed, 'quotagate_outbox_lag_seconds', { partition })).toBe(0);
    expect(valueOf(flushed, 'quotagate_flush_batch_size_count')).toBeGreaterThanOrEqual(1);
    expect(valueOf(flushed, 'quotagate_flush_batch_size_sum')).toBeGreaterThanOrEqual(4);
    expect(valueOf(flushed, 'quotagate_ledger_lag_seconds_count')).toBeGreaterThanOrEqual(4);

    // Redis 2 projects ahead of the ledger: reported, never lowered.
    await f.redis.incrby(f.keys.gauge(subject.id, 'projects'), 2);
    await worker.reconcile('manual');
    const reconciled = await scrape(worker.metricsUrl!);
    expect(valueOf(reconciled, 'quotagate_reconciliation_drifts_total', { metric: 'projects', action: 'reported' })).toBe(1);
    expect(valueOf(reconciled, 'quotagate_reconciliation_drift_units_total', { metric: 'projects', action: 'reported' })).toBe(2);
    await f.redis.incrby(f.keys.gauge(subject.id, 'projects'), -2);
  });

  it('includes the worker in the gateway scrape when both run in one process (quotagate start)', async () => {
    f.gateway.deps.metrics.include(worker.metrics.registry);
    const names = new Set((await scrape(`${f.url}/metrics`)).map((s) => s.name));
    expect(names).toContain('quotagate_decisions_total');
    expect(names).toContain('quotagate_outbox_length');
  });
});

describe('metrics of a failing Redis and Postgres', () => {
  let redis: PrivateRedis;
  let postgres: TcpProxy;
  let f: GatewayFixture;

  beforeAll(async () => {
    redis = await startPrivateRedis();
    postgres = await startTcpProxy(targetOf(databaseUrl()));
    f = await startGatewayFixture({
      redisUrl: redis.url,
      env: { DATABASE_URL: postgres.rewrite(databaseUrl()), QG_AUTH_CACHE_TTL_MS: '300000', QG_REDIS_COMMAND_TIMEOUT_MS: '250' },
    });
  });

  afterAll(async () => {
    await f?.close();
    await postgres?.close();
    await redis?.dispose();
  });

  it('counts fail-open passes and errors per backend', async () => {
    const cached = await f.createSubject();
    const uncached = await f.createSubject();
    expect((await f.request('/v1/usage', { key: cached.key })).status).toBe(200); // its key is cached now
    await redis.stop();
    postgres.block();

    expect((await f.request('/v1/projects', { key: cached.key })).status).toBe(200); // list-projects: when_redis_down open
    expect((await f.request('/v1/consume', { method: 'POST', key: cached.key, json: { charges: [{ metric: 'gens', amount: 1 }] } })).status).toBe(503);
    expect((await f.request('/v1/usage', { key: uncached.key })).status).toBe(503); // its key needs Postgres

    const m = await waitFor('the error counters', async () => {
      const samples = await scrape(`${f.url}/metrics`);
      return valueOf(samples, 'quotagate_backend_errors_total', { backend: 'postgres' }) >= 1 ? samples : null;
    });
    expect(valueOf(m, 'quotagate_fail_open_total', { route: 'list-projects' })).toBe(1);
    expect(valueOf(m, 'quotagate_decisions_total', { route: 'list-projects', outcome: 'fail_open' })).toBe(1);
    expect(valueOf(m, 'quotagate_decisions_total', { route: 'api:consume', outcome: 'unavailable' })).toBe(1);
    expect(valueOf(m, 'quotagate_backend_errors_total', { backend: 'redis' })).toBe(2);
    expect(valueOf(m, 'quotagate_backend_errors_total', { backend: 'postgres' })).toBe(1);
  });
});
