import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintUsageToken } from '../../src/auth/usage-token.js';
import { startGatewayFixture, type GatewayFixture, type TestSubject } from '../support/gateway.js';
import { SseReader } from '../support/sse-client.js';

/**
 * Usage for browsers (SPEC "Browsers never hold an API key"): a backend mints a read-only
 * usage token with its API key; the token reads GET /v1/usage and the live stream of its own
 * subject and nothing else; CORS only for the configured origins, only on those endpoints.
 */

const SECRET = 'usage-token-secret-0123456789';
const ORIGIN = 'http://app.example.test';

let gw: GatewayFixture;
let tokensOff: GatewayFixture;
beforeAll(async () => {
  [gw, tokensOff] = await Promise.all([
    startGatewayFixture({ env: { QG_USAGE_TOKEN_SECRET: SECRET, QG_CORS_ORIGINS: `${ORIGIN}, http://other.example.test:8443` } }),
    startGatewayFixture(),
  ]);
});
afterAll(() => Promise.all([gw?.close(), tokensOff?.close()]));

async function mint(subject: TestSubject, body?: unknown): Promise<{ token: string; subject: string; expires_at: string; scope: string }> {
  const res = await gw.request('/v1/usage-tokens', { method: 'POST', key: subject.key, json: body ?? {} });
  expect(res.status).toBe(201);
  expect(res.headers.get('cache-control')).toBe('no-store');
  return (await res.json()) as { token: string; subject: string; expires_at: string; scope: string };
}

const consume = (subject: TestSubject, amount: number) => gw.request('/v1/consume', { method: 'POST', key: subject.key, json: { charges: [{ metric: 'gens', amount }] } });

describe('POST /v1/usage-tokens', () => {
  it('mints a token for the key’s subject, 15 minutes by default, at most an hour', async () => {
    const subject = await gw.createSubject();
    const before = Date.now();
    const minted = await mint(subject);
    expect(minted.subject).toBe(subject.id);
    expect(minted.scope).toBe('usage:read');
    expect(minted.token).toMatch(/^qgu_[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    const after = Date.now();
    // 15 minutes from the moment it was minted (in whole seconds), whenever in the request that was.
    const expires = Date.parse(minted.expires_at);
    expect(expires).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 900_000);
    expect(expires).toBeLessThanOrEqual(after + 900_000);
    // The token never contains the API key.
    expect(Buffer.from(minted.token.slice(4).split('.')[0]!, 'base64url').toString()).not.toContain(subject.key);

    const hour = await mint(subject, { ttl_seconds: 3600 });
    expect(Date.parse(hour.expires_at)).toBeLessThanOrEqual(Date.now() + 3_600_000);
    expect(Date.parse(hour.expires_at)).toBeGreaterThanOrEqual(Math.floor(after / 1000) * 1000 + 3_600_000);
    const tooLong = await gw.request('/v1/usage-tokens', { method: 'POST', key: subject.key, json: { ttl_seconds: 3601 } });
    expect(tooLong.status).toBe(400);
    expect(await tooLong.json()).toMatchObject({ code: 'invalid_request', field: 'ttl_seconds' });
  });

  it('needs an API key (a usage token cannot mint another)', async () => {
    const subject = await gw.createSubject();
    const { token } = await mint(subject);
    const res = await gw.request('/v1/usage-tokens', { method: 'POST', key: token, json: {} });
    expect(res.status).toBe(401);
  });

  it('is 403 on a gateway without QG_USAGE_TOKEN_SECRET, which also refuses every token', async () => {
    const subject = await tokensOff.createSubject();
    const res = await tokensOff.request('/v1/usage-tokens', { method: 'POST', key: subject.key, json: {} });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ code: 'forbidden' });
    const forged = mintUsageToken(SECRET, { subject: subject.id, issuedAt: Math.floor(Date.now() / 1000), expiresAt: Math.floor(Date.now() / 1000) + 60 });
    expect((await tokensOff.request('/v1/usage', { key: forged })).status).toBe(401);
  });
});

describe('a usage token', () => {
  it('reads its subject’s usage, the same answer as the API key gets', async () => {
    const subject = await gw.createSubject();
    expect((await consume(subject, 7)).status).toBe(200);
    const { token } = await mint(subject);
    const [withToken, withKey] = await Promise.all([gw.request('/v1/usage', { key: token }), gw.request('/v1/usage', { key: subject.key })]);
    expect(withToken.status).toBe(200);
    const body = (await withToken.json()) as { subject: string; metrics: { metric: string; used: number; status: string }[] };
    expect(body).toEqual(await withKey.json());
    expect(body.subject).toBe(subject.id);
    expect(body.metrics.find((m) => m.metric === 'gens')).toMatchObject({ used: 7, status: 'ok' });
  });

  it('is read-only: every endpoint that changes something refuses it', async () => {
    const subject = await gw.createSubject();
    const { token } = await mint(subject);
    for (const [method, path, json] of [
      ['POST', '/v1/consume', { charges: [{ metric: 'gens', amount: 1 }] }],
      ['POST', '/v1/check', { charges: [{ metric: 'gens', amount: 1 }] }],
      ['POST', '/v1/reservations', { charges: [{ metric: 'gens', amount: 1 }] }],
      ['POST', '/v1/release', { metric: 'projects', amount: 1 }],
      ['POST', '/v1/chat/completions', { messages: [] }],
    ] as const) {
      const res = await gw.request(path, { method, key: token, json });
      expect(res.status, `${method} ${path}`).toBe(401);
    }
    expect(await gw.used(subject, 'gens')).toBe(0);
  });

  it('is refused once expired, when signed with another secret, or tampered with', async () => {
    const subject = await gw.createSubject();
    const now = Math.floor(Date.now() / 1000);
    const expired = mintUsageToken(SECRET, { subject: subject.id, issuedAt: now - 120, expiresAt: now - 1 });
    const foreign = mintUsageToken('another-gateway-secret-000000', { subject: subject.id, issuedAt: now, expiresAt: now + 600 });
    const { token } = await mint(await gw.createSubject());
    // Someone else's token with this subject's id put in its payload: the signature no longer matches.
    const [payload, signature] = token.slice(4).split('.') as [string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    const tampered = `qgu_${Buffer.from(JSON.stringify({ ...claims, sub: subject.id })).toString('base64url')}.${signature}`;
    for (const [what, bad] of Object.entries({ expired, foreign, tampered, truncated: token.slice(0, -2) })) {
      const res = await gw.request('/v1/usage', { key: bad });
      expect(res.status, what).toBe(401);
      expect(await res.json(), what).toMatchObject({ code: 'unauthorized', detail: 'the usage token is invalid or has expired' });
      expect((await gw.request('/v1/usage/stream', { key: bad })).status, `${what} on the stream`).toBe(401);
    }
  });

  it('of a deleted subject is refused', async () => {
    const subject = await gw.createSubject();
    const { token } = await mint(subject);
    expect((await gw.admin(`/admin/v1/subjects/${subject.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await gw.request('/v1/usage', { key: token })).status).toBe(401);
  });
});

describe('GET /v1/usage/stream', () => {
  it('sends the usage at once and again after every change made anywhere, until the token expires', async () => {
    const subject = await gw.createSubject();
    const now = Math.floor(Date.now() / 1000);
    // A token that expires a few seconds from now, so the test sees the stream end.
    const token = mintUsageToken(SECRET, { subject: subject.id, issuedAt: now, expiresAt: now + 4 });
    const res = await gw.request('/v1/usage/stream', { key: token });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = new SseReader(res.body!);
    const gensOf = (data: string) => (JSON.parse(data) as { metrics: { metric: string; used: number }[] }).metrics.find((m) => m.metric === 'gens')!.used;
    expect(gensOf((await reader.next())!.data)).toBe(0);

    expect((await consume(subject, 3)).status).toBe(200);
    expect(gensOf((await reader.next())!.data)).toBe(3);
    // A change by the admin API (another path into the engine) is pushed too.
    const adjust = await gw.admin(`/admin/v1/subjects/${subject.id}/adjust`, { method: 'POST', json: { metric: 'gens', delta: 10, reason: 'test' } });
    expect(adjust.status).toBe(200);
    expect(gensOf((await reader.next())!.data)).toBe(13);
    // Another subject's change is not this stream's.
    const other = await gw.createSubject();
    expect((await consume(other, 1)).status).toBe(200);
    expect((await consume(subject, 1)).status).toBe(200);
    expect(gensOf((await reader.next())!.data)).toBe(14);

    // Then the token expires: an `expired` event, and the stream ends.
    const rest = await reader.rest();
    expect(rest.at(-1)?.data).toBe('{}');
    expect(reader.text).toContain('event: expired');
  });

  it('stops watching when the browser goes away', async () => {
    const subject = await gw.createSubject();
    const res = await gw.request('/v1/usage/stream', { key: subject.key });
    const reader = new SseReader(res.body!);
    await reader.next();
    expect(gw.gateway.deps.usageWatch.subjects).toBeGreaterThan(0);
    await reader.cancel();
    // The gateway notices at its next write: a change of the subject makes one.
    await consume(subject, 1);
    const deadline = Date.now() + 30_000;
    while (gw.gateway.deps.usageWatch.subjects > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(gw.gateway.deps.usageWatch.subjects).toBe(0);
  });
});

describe('CORS', () => {
  it('answers a preflight from a configured origin on the usage endpoints only', async () => {
    for (const path of ['/v1/usage', '/v1/usage/stream']) {
      const res = await gw.request(path, {
        method: 'OPTIONS',
        headers: { origin: ORIGIN, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
      });
      expect(res.status, path).toBe(204);
      expect(res.headers.get('access-control-allow-origin')).toBe(ORIGIN);
      expect(res.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
      expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    }
    const consumePreflight = await gw.request('/v1/consume', { method: 'OPTIONS', headers: { origin: ORIGIN, 'access-control-request-method': 'POST' } });
    expect(consumePreflight.headers.get('access-control-allow-origin')).toBeNull();
    const mintPreflight = await gw.request('/v1/usage-tokens', { method: 'OPTIONS', headers: { origin: ORIGIN, 'access-control-request-method': 'POST' } });
    expect(mintPreflight.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('lets a configured origin read answers, a 401 included, and no other origin', async () => {
    const subject = await gw.createSubject();
    const { token } = await mint(subject);
    const ok = await gw.request('/v1/usage', { key: token, headers: { origin: ORIGIN } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    const refused = await gw.request('/v1/usage', { key: 'qgu_bad.token', headers: { origin: ORIGIN } });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    const elsewhere = await gw.request('/v1/usage', { key: token, headers: { origin: 'http://evil.example.test' } });
    expect(elsewhere.headers.get('access-control-allow-origin')).toBeNull();
    // A gateway without QG_CORS_ORIGINS sends no CORS headers at all.
    const plain = await tokensOff.request('/v1/usage', { method: 'OPTIONS', headers: { origin: ORIGIN, 'access-control-request-method': 'GET' } });
    expect(plain.headers.get('access-control-allow-origin')).toBeNull();
  });
});
