import { createServer, type Server } from 'node:net';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../packages/client/src/client.js';
import { isQuotagateError, QuotagateError } from '../../packages/client/src/errors.js';
import { startGatewayFixture, type GatewayFixture } from '../support/gateway.js';

/** The typed client against a real gateway: decisions as values, typed errors, retries, timeouts. */

let gw: GatewayFixture;
let silent: Server;
let silentUrl: string;
beforeAll(async () => {
  gw = await startGatewayFixture({ env: { QG_USAGE_TOKEN_SECRET: 'usage-token-secret-0123456789' } });
  // Accepts connections and never answers: for timeouts.
  silent = createServer(() => {}).listen(0, '127.0.0.1');
  await once(silent, 'listening');
  silentUrl = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
});
afterAll(async () => {
  silent?.close();
  await gw?.close();
});

describe('decisions', () => {
  it('are values: allowed with usage, or a quota denial with the problem and RateLimit fields', async () => {
    const subject = await gw.createSubject();
    const client = createClient({ baseUrl: gw.url, apiKey: subject.key });
    const allowed = await client.consume({ charges: [{ metric: 'gens', amount: 45 }] });
    expect(allowed).toMatchObject({ allowed: true, replayed: false, metrics: [{ metric: 'gens', used: 45, remaining: 5 }] });
    const denied = await client.consume({ charges: [{ metric: 'gens', amount: 6 }] });
    if (denied.allowed) throw new Error('expected a denial');
    expect(denied.reason).toBe('quota');
    expect(denied.status).toBe(402);
    expect(denied.problem).toMatchObject({ code: 'quota_exceeded', metric: 'gens', limit: 50, used: 45, remaining: 5, requested: 6 });
    expect(denied.rateLimit.policy).toContain('"gens";q=50');
    expect(await gw.used(subject, 'gens')).toBe(45);

    expect(await client.check({ charges: [{ metric: 'gens', amount: 5 }] })).toMatchObject({ allowed: true });
    const usage = await client.usage();
    expect(usage.metrics.find((m) => m.metric === 'gens')).toMatchObject({ used: 45, percent: 90, status: 'warning' });
  });

  it('a rate denial carries Retry-After', async () => {
    const subject = await gw.createSubject({ plan: 'limited' });
    const client = createClient({ baseUrl: gw.url, apiKey: subject.key });
    const decisions = await Promise.all(Array.from({ length: 12 }, () => client.consume({ charges: [{ metric: 'gens', amount: 1 }] })));
    const denied = decisions.find((d) => !d.allowed);
    if (!denied || denied.allowed) throw new Error('expected a rate denial');
    expect(denied).toMatchObject({ reason: 'rate', status: 429, problem: { code: 'rate_limited' } });
    expect(denied.retryAfterSeconds).toBeGreaterThanOrEqual(1);
  });

  it('reserve, settle, release, refund and gauge release', async () => {
    const subject = await gw.createSubject();
    const client = createClient({ baseUrl: gw.url, apiKey: subject.key });
    const reserved = await client.reserve({ charges: [{ metric: 'tokens', amount: 500 }], ttlSeconds: 60 });
    if (!reserved.allowed) throw new Error('expected a reservation');
    expect((await client.settle(reserved.id, { actual: 120 })).metrics[0]).toMatchObject({ metric: 'tokens', used: 120 });
    const cancelled = await client.reserve({ charges: [{ metric: 'tokens', amount: 100 }] });
    if (!cancelled.allowed) throw new Error('expected a reservation');
    await client.releaseReservation(cancelled.id);
    const failed = await client.reserve({ charges: [{ metric: 'tokens', amount: 100 }] });
    if (!failed.allowed) throw new Error('expected a reservation');
    await client.refund(failed.id);
    expect(await gw.used(subject, 'tokens')).toBe(120);
    expect((await gw.events(subject)).map((e) => e.kind)).toEqual(['consume', 'settle', 'consume', 'release', 'consume', 'refund']);

    await client.consume({ charges: [{ metric: 'projects', amount: 3 }] });
    expect(await client.release({ metric: 'projects', amount: 1 })).toEqual({ metric: 'projects', released: 1, used: 2 });
  });
});

describe('errors', () => {
  it('are QuotagateErrors with the problem’s code, status and body', async () => {
    const subject = await gw.createSubject();
    const wrongKey = createClient({ baseUrl: gw.url, apiKey: 'qg_not-a-real-key' });
    const unauthorized = await wrongKey.usage().catch((e: unknown) => e);
    expect(isQuotagateError(unauthorized, 'unauthorized')).toBe(true);
    expect(unauthorized).toMatchObject({ status: 401, problem: { code: 'unauthorized' } });

    const client = createClient({ baseUrl: gw.url, apiKey: subject.key });
    const invalid = await client.consume({ charges: [{ metric: 'nope', amount: 1 }] }).catch((e: unknown) => e);
    expect(invalid).toBeInstanceOf(QuotagateError);
    expect(invalid).toMatchObject({ code: 'invalid_request', status: 400, problem: { field: 'charges.0.metric' } });
    const gone = await client.settle('00000000-0000-0000-0000-000000000000').catch((e: unknown) => e);
    expect(gone).toMatchObject({ code: 'not_found', status: 404 });
  });
});

describe('retries', () => {
  it('reuse one Idempotency-Key, so a request whose answer was lost is charged once', async () => {
    const subject = await gw.createSubject();
    const keys: (string | null)[] = [];
    // The first answer is lost on the way back (the request did reach the gateway).
    const lossy: typeof fetch = async (input, init) => {
      keys.push(new Headers(init?.headers).get('idempotency-key'));
      const response = await fetch(input, init);
      if (keys.length === 1) {
        await response.body?.cancel();
        throw new TypeError('fetch failed: connection reset');
      }
      return response;
    };
    const client = createClient({ baseUrl: gw.url, apiKey: subject.key, fetch: lossy, retryDelayMs: 1 });
    const decision = await client.consume({ charges: [{ metric: 'gens', amount: 3 }] });
    expect(decision).toMatchObject({ allowed: true, replayed: true });
    expect(keys).toHaveLength(2);
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(keys[1]).toBe(keys[0]);
    expect(await gw.used(subject, 'gens')).toBe(3);
  });

  it('are not made for a call that could apply twice (no idempotency key)', async () => {
    const subject = await gw.createSubject();
    let calls = 0;
    const failing: typeof fetch = async () => {
      calls++;
      throw new TypeError('fetch failed');
    };
    const client = createClient({ baseUrl: gw.url, apiKey: subject.key, fetch: failing, retryDelayMs: 1, autoIdempotencyKeys: false });
    const err = await client.consume({ charges: [{ metric: 'gens', amount: 1 }] }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'network' });
    expect(calls).toBe(1);
  });
});

describe('timeouts', () => {
  it('end each attempt after timeoutMs, then the call with a timeout error', async () => {
    const client = createClient({ baseUrl: silentUrl, apiKey: 'qg_x', timeoutMs: 100, retries: 1, retryDelayMs: 1 });
    const err = await client.usage().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QuotagateError);
    expect(err).toMatchObject({ code: 'timeout', retryable: true });
  });

  it('the caller’s AbortSignal ends the call with its own reason', async () => {
    const client = createClient({ baseUrl: silentUrl, apiKey: 'qg_x', timeoutMs: 60_000 });
    const controller = new AbortController();
    const pending = client.usage({ signal: controller.signal }).catch((e: unknown) => e);
    controller.abort(new Error('user navigated away'));
    expect(await pending).toMatchObject({ message: 'user navigated away' });
  });
});

describe('usage tokens', () => {
  it('are minted with the API key and read the subject’s usage, nothing else', async () => {
    const subject = await gw.createSubject();
    const server = createClient({ baseUrl: gw.url, apiKey: subject.key });
    await server.consume({ charges: [{ metric: 'gens', amount: 2 }] });
    const minted = await server.mintUsageToken({ ttlSeconds: 60 });
    expect(minted.subject).toBe(subject.id);
    const browser = createClient({ baseUrl: gw.url, usageToken: async () => minted.token });
    expect((await browser.usage()).metrics.find((m) => m.metric === 'gens')?.used).toBe(2);
    expect(await browser.consume({ charges: [{ metric: 'gens', amount: 1 }] }).catch((e: unknown) => e)).toMatchObject({ code: 'unauthorized' });
  });
});
