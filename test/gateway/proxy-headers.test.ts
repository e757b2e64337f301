import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PolicyInput } from '../../src/config/policy.js';
import { periodAt } from '../../src/lib/period.js';
import { gatewayTestPolicy, startGatewayFixture, type GatewayFixture, type TestSubject } from '../support/gateway.js';
import { requestSettled } from '../support/sse-client.js';

/** The default test policy plus an export route in shadow mode. */
const headersPolicy = (upstream: string): PolicyInput => {
  const base = gatewayTestPolicy(upstream);
  return {
    ...base,
    routes: [
      ...base.routes!,
      { name: 'shadow-export', match: { method: 'POST', path: '/v1/shadow-exports' }, upstream, charge: [{ metric: 'exports', amount: 1 }], mode: 'shadow' },
    ],
  };
};

let gw: GatewayFixture;
beforeAll(async () => {
  gw = await startGatewayFixture({ policy: headersPolicy });
});
afterAll(() => gw?.close());

/** The upstream request that carried `x-test-marker: <marker>`. */
function reachedWith(marker: string) {
  const found = gw.upstream.requests.filter((r) => r.headers['x-test-marker'] === marker);
  expect(found).toHaveLength(1);
  return found[0]!;
}

/**
 * A request through node:http, which (unlike fetch) sends any header as given: fetch refuses
 * to set connection options, keep-alive, upgrade and expect. With `expect: 100-continue` the
 * body waits for the 100 Continue, as curl's does.
 */
function rawRequest(
  path: string,
  headers: Record<string, string>,
  body: string | Buffer,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, gw.url);
    const req = httpRequest(
      { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) }, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (headers.expect === '100-continue') req.on('continue', () => req.end(body));
    else req.end(body);
  });
}

/** Parses a structured-field list like `"rate";q=5;w=1, "gens";q=10` into name → params. */
function parseFieldList(value: string | null): Map<string, Record<string, number>> {
  const out = new Map<string, Record<string, number>>();
  expect(value).toBeTruthy();
  for (const item of value!.split(',')) {
    const [name, ...params] = item.trim().split(';');
    expect(name).toMatch(/^"[^"]+"$/);
    out.set(name!.slice(1, -1), Object.fromEntries(params.map((p) => p.split('=')).map(([k, v]) => [k!, Number(v)])));
  }
  return out;
}

/** A counter's period length in seconds (calendar months in UTC: subjects have no anchor). */
const periodSeconds = () => {
  const p = periodAt(Date.now(), null);
  return Math.round((p.end - p.start) / 1000);
};

async function useUpExports(subject: TestSubject, count = 5): Promise<void> {
  for (let i = 0; i < count; i++) {
    const r = await gw.request('/v1/exports', { method: 'POST', key: subject.key, json: { n: i } });
    expect(r.status).toBe(202);
    await r.arrayBuffer();
    await requestSettled(gw, subject, r);
  }
}

describe('headers sent upstream', () => {
  it('strips credentials, hop-by-hop and forged gateway headers; adds the subject and request id; keeps the rest', async () => {
    const subject = await gw.createSubject();
    const marker = randomUUID();
    const idempotencyKey = `idem-${randomUUID()}`;
    const res = await rawRequest(
      '/v1/exports',
      {
        authorization: `Bearer ${subject.key}`,
        'x-api-key': subject.key,
        'content-type': 'application/json',
        connection: 'keep-alive, x-drop-me',
        'keep-alive': 'timeout=5',
        'x-drop-me': 'named by connection',
        'proxy-authorization': 'Basic Zm9vOmJhcg==',
        te: 'trailers',
        upgrade: 'h2c',
        'x-quotagate-subject': 'someone-else',
        'x-quotagate-plan': 'unlimited',
        'x-request-id': 'client-chosen-id',
        'idempotency-key': idempotencyKey,
        'x-custom-header': 'custom value',
        'user-agent': 'quotagate-tests/1.0',
        accept: 'application/json',
        'x-test-marker': marker,
      },
      JSON.stringify({ format: 'csv' }),
    );
    expect(res.status).toBe(202);
    const requestId = res.headers['x-request-id'];
    expect(typeof requestId).toBe('string');
    expect(requestId).not.toBe('client-chosen-id');

    const seen = reachedWith(marker).headers;
    for (const name of ['authorization', 'x-api-key', 'keep-alive', 'proxy-authorization', 'te', 'upgrade', 'x-drop-me', 'x-quotagate-plan']) {
      expect(seen[name], name).toBeUndefined();
    }
    // The gateway→upstream hop has its own connection header (set by its HTTP client); the
    // client's options never pass.
    expect([undefined, 'keep-alive', 'close']).toContain(seen.connection);
    expect(seen['x-quotagate-subject']).toBe(subject.id);
    expect(seen['x-request-id']).toBe(requestId);
    expect(seen['idempotency-key']).toBe(idempotencyKey);
    expect(seen['x-custom-header']).toBe('custom value');
    expect(seen['user-agent']).toBe('quotagate-tests/1.0');
    expect(seen.accept).toBe('application/json');
    expect(seen['content-type']).toBe('application/json');
    expect(reachedWith(marker).body).toBe(JSON.stringify({ format: 'csv' }));
    await gw.settled();
  });

  it('answers Expect: 100-continue itself: a 1.5 MiB streamed body with it is answered as without it', async () => {
    const subject = await gw.createSubject();
    const body = Buffer.alloc(1536 * 1024, 'x');
    const headers = { authorization: `Bearer ${subject.key}`, 'content-type': 'application/octet-stream' };
    const plain = await rawRequest('/v1/exports', { ...headers, 'x-test-marker': 'no-expect' }, body);
    expect(plain.status, plain.body).toBe(202);
    const continued = await rawRequest('/v1/exports', { ...headers, expect: '100-continue', 'x-test-marker': 'expect' }, body);
    expect(continued.status, continued.body).toBe(202);
    const upstream = reachedWith('expect');
    expect(upstream.headers.expect).toBeUndefined();
    expect(upstream.body).toHaveLength(body.length);
    expect(await gw.used(subject, 'exports')).toBe(2);
  });

  it('never forwards an x-api-key credential', async () => {
    const subject = await gw.createSubject();
    const marker = randomUUID();
    const response = await gw.request('/v1/exports', {
      method: 'POST',
      json: { format: 'csv' },
      headers: { 'x-api-key': subject.key, 'x-test-marker': marker },
    });
    expect(response.status).toBe(202);
    await response.arrayBuffer();
    const seen = reachedWith(marker).headers;
    expect(seen['x-api-key']).toBeUndefined();
    expect(seen.authorization).toBeUndefined();
    expect(seen['x-quotagate-subject']).toBe(subject.id);
    expect(seen['x-request-id']).toBe(response.headers.get('x-request-id'));
    await requestSettled(gw, subject, response);
  });
});

describe('RateLimit fields', () => {
  it('lists the rate and every charged metric quota on an allowed response', async () => {
    const subject = await gw.createSubject({ plan: 'limited' });
    const response = await gw.request('/v1/chat/completions', {
      method: 'POST',
      key: subject.key,
      json: { messages: [{ role: 'user', content: 'hi' }], max_tokens: 100 },
    });
    expect(response.status).toBe(200);
    await response.arrayBuffer();
    const w = periodSeconds();

    const policy = parseFieldList(response.headers.get('ratelimit-policy'));
    expect([...policy.keys()]).toEqual(['rate', 'gens', 'tokens']);
    expect(policy.get('rate')).toEqual({ q: 5, w: 1 });
    expect(policy.get('gens')).toEqual({ q: 1000, w });
    expect(policy.get('tokens')).toEqual({ q: 100_000, w });

    const state = parseFieldList(response.headers.get('ratelimit'));
    expect([...state.keys()]).toEqual(['rate', 'gens', 'tokens']);
    expect(state.get('rate')!.r).toBe(4);
    expect(state.get('gens')!.r).toBe(999);
    expect(state.get('tokens')!.r).toBe(100_000 - 100);
    for (const name of ['gens', 'tokens']) {
      expect(state.get(name)!.t).toBeGreaterThan(0);
      expect(state.get(name)!.t).toBeLessThanOrEqual(w);
    }
    await requestSettled(gw, subject, response);
  });

  it('carries them on a 402, and the quota_exceeded body names metric, limit, used, remaining, resets_at, upgrade_url', async () => {
    const subject = await gw.createSubject();
    await useUpExports(subject);
    const response = await gw.request('/v1/exports', { method: 'POST', key: subject.key, json: { n: 'one too many' } });
    expect(response.status).toBe(402);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const body = (await response.json()) as Record<string, unknown>;

    const period = periodAt(Date.now(), null);
    expect(body).toMatchObject({
      type: 'https://quotagate.dev/problems/quota_exceeded',
      status: 402,
      code: 'quota_exceeded',
      metric: 'exports',
      limit: 5,
      used: 5,
      remaining: 0,
      resets_at: new Date(period.end).toISOString(),
      upgrade_url: 'https://example.com/billing/upgrade',
    });
    expect(typeof body.detail).toBe('string');

    const policy = parseFieldList(response.headers.get('ratelimit-policy'));
    expect([...policy.entries()]).toEqual([['exports', { q: 5, w: periodSeconds() }]]);
    const state = parseFieldList(response.headers.get('ratelimit'));
    expect([...state.keys()]).toEqual(['exports']);
    expect(state.get('exports')!.r).toBe(0);
    await gw.settled();
    expect(await gw.used(subject, 'exports')).toBe(5);
  });

  it('carries Retry-After and the rate fields on a 429 for the request rate', async () => {
    const subject = await gw.createSubject({ plan: 'limited' });
    // Burst 5 at 5 per second: of 20 requests at once, those past the burst are over the
    // rate (the rate is decided before the concurrency limit of 2, which denies others).
    const responses = await Promise.all(Array.from({ length: 20 }, () => gw.request('/v1/projects', { method: 'GET', key: subject.key })));
    const bodies = (await Promise.all(responses.map((r) => r.json()))) as Record<string, unknown>[];
    await Promise.all(responses.map((r) => requestSettled(gw, subject, r)));
    expect(responses.every((r) => r.status === 200 || r.status === 429)).toBe(true);
    const rateDenied = responses.findIndex((r, i) => r.status === 429 && bodies[i]!.retry_after_ms !== undefined);
    expect(rateDenied).toBeGreaterThanOrEqual(0);
    const denied = responses[rateDenied];
    const body = bodies[rateDenied]!;
    expect(body).toMatchObject({ status: 429, code: 'rate_limited', limit: 5 });
    expect(body.retry_after_ms).toBeGreaterThan(0);
    expect(denied!.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
    expect(parseFieldList(denied!.headers.get('ratelimit-policy')).get('rate')).toEqual({ q: 5, w: 1 });
    expect(parseFieldList(denied!.headers.get('ratelimit')).get('rate')!.r).toBe(0);
  });
});

describe('shadow mode', () => {
  it('lets a request over quota through, says it would have been denied, and records a shadow denial', async () => {
    const subject = await gw.createSubject();
    // Under quota, a shadow route says nothing.
    const fits = await gw.request('/v1/shadow-exports', { method: 'POST', key: subject.key, json: {}, headers: { 'x-demo-status': '200' } });
    expect(fits.status).toBe(200);
    expect(fits.headers.get('quotagate-shadow')).toBeNull();
    await fits.arrayBuffer();
    await requestSettled(gw, subject, fits);
    await useUpExports(subject, 4);
    expect(await gw.used(subject, 'exports')).toBe(5);

    const marker = randomUUID();
    const response = await gw.request('/v1/shadow-exports', {
      method: 'POST',
      key: subject.key,
      json: {},
      // x-demo-status: 200 makes the demo answer 200 on any path.
      headers: { 'x-demo-status': '200', 'x-test-marker': marker },
    });
    expect(response.status).toBe(200);
    await response.arrayBuffer();
    expect(response.headers.get('quotagate-shadow')).toBe('would-deny; reason=quota; metric=exports');
    reachedWith(marker);
    await requestSettled(gw, subject, response);

    const denied = (await gw.events(subject)).filter((e) => e.kind === 'denied');
    expect(denied).toHaveLength(1);
    expect(denied[0]).toMatchObject({ metric: 'exports', delta: 0, extra: { shadow: true, limit: 5, requested: 1 }, context: { route: 'shadow-export' } });
  });
});
