import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startGatewayFixture, type GatewayFixture, type TestSubject } from '../support/gateway.js';

/**
 * Bad input never gets a 500 and never charges anything (SPEC "HTTP interface"): every case
 * here answers a 4xx problem+json with a stable code, names the offending field where there
 * is one, shows no internals, and leaves the subject's counters and outbox untouched.
 */

const MAX_BODY = 2048;
const METRICS = ['gens', 'tokens', 'exports', 'projects'] as const;

let gw: GatewayFixture;
/** Every bad request is sent by this subject; nothing may ever be charged to it. */
let subject: TestSubject;

beforeAll(async () => {
  gw = await startGatewayFixture({ env: { QG_MAX_BODY_BYTES: String(MAX_BODY) } });
  subject = await gw.createSubject();
});
afterAll(() => gw?.close());

interface Problem {
  type: string;
  title: string;
  status: number;
  code: string;
  detail: string;
  field?: string;
  [member: string]: unknown;
}

/** Reads the whole body and checks the problem+json envelope every error shares. */
async function problemOf(res: Response, status: number, code: string): Promise<Problem> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const body = JSON.parse(text) as Problem;
  expect(body).toMatchObject({ status, code, type: expect.stringContaining(code), title: expect.any(String), detail: expect.any(String) });
  // No internals: no stack frames, no source paths, no error class dumps.
  expect(text).not.toMatch(/\n\s+at |\bat [\w.<>]+ \(|node_modules|\.ts:\d+|\.js:\d+|stack/i);
  return body;
}

/** Nothing was charged: every metric still at 0, and no event at all in the subject's outbox. */
async function expectNothingCharged(who: TestSubject = subject): Promise<void> {
  await gw.settled();
  for (const metric of METRICS) expect(await gw.used(who, metric), metric).toBe(0);
  expect(await gw.events(who)).toEqual([]);
}

const post = (path: string, init: RequestInit & { json?: unknown; key?: string } = {}) => gw.request(path, { method: 'POST', key: subject.key, ...init });

/** A raw JSON body with an explicit content-type (for bodies `json` cannot express). */
const raw = (body: string, contentType = 'application/json'): RequestInit => ({ body, headers: { 'content-type': contentType } });

describe('malformed bodies on the decision API', () => {
  beforeEach(async () => {
    await expectNothingCharged();
  });

  it('invalid JSON → 400 invalid_request', async () => {
    for (const body of ['{"charges": [', 'not json at all', '{"charges":[{"metric":"gens","amount":1}]}}']) {
      const p = await problemOf(await post('/v1/consume', raw(body)), 400, 'invalid_request');
      expect(p.detail).toMatch(/JSON/);
      expect(p.field).toBe('body');
    }
    await expectNothingCharged();
  });

  it('wrong types, negative and fractional amounts → 400 naming charges.0.amount', async () => {
    for (const amount of ['1', -1, 1.5, null, true, 1e13]) {
      const p = await problemOf(await post('/v1/consume', { json: { charges: [{ metric: 'gens', amount }] } }), 400, 'invalid_request');
      expect(p.field, JSON.stringify(amount)).toBe('charges.0.amount');
    }
    // The second line is bad: the first, valid line is not charged either.
    const p = await problemOf(
      await post('/v1/consume', {
        json: {
          charges: [
            { metric: 'gens', amount: 1 },
            { metric: 'tokens', amount: -3 },
          ],
        },
      }),
      400,
      'invalid_request',
    );
    expect(p.field).toBe('charges.1.amount');
    await expectNothingCharged();
  });

  it('an unknown metric → 400 naming charges.0.metric', async () => {
    const p = await problemOf(await post('/v1/consume', { json: { charges: [{ metric: 'nope', amount: 1 }] } }), 400, 'invalid_request');
    expect(p.field).toBe('charges.0.metric');
    await expectNothingCharged();
  });

  it('empty or missing charges → 400 naming charges', async () => {
    for (const json of [{ charges: [] }, {}, { charges: 'gens' }, []]) {
      const p = await problemOf(await post('/v1/consume', { json }), 400, 'invalid_request');
      expect(p.field, JSON.stringify(json)).toMatch(/^charges$|^json$/);
      if (!Array.isArray(json)) expect(p.field).toBe('charges');
    }
    await expectNothingCharged();
  });

  it('unknown extra fields are refused (strict schemas), top level and per charge', async () => {
    const top = await problemOf(await post('/v1/consume', { json: { charges: [{ metric: 'gens', amount: 1 }], dry_run: true } }), 400, 'invalid_request');
    expect(top.field).toBe('dry_run');
    const line = await problemOf(await post('/v1/consume', { json: { charges: [{ metric: 'gens', amount: 1, price: 3 }] } }), 400, 'invalid_request');
    expect(line.field).toBe('charges.0.price');
    const reservation = await problemOf(await post('/v1/reservations', { json: { charges: [{ metric: 'tokens', amount: 1 }], ttl: 5 } }), 400, 'invalid_request');
    expect(reservation.field).toBe('ttl');
    await expectNothingCharged();
  });

  it('the same rules hold on /v1/check, /v1/reservations and /v1/release', async () => {
    const bad = { charges: [{ metric: 'gens', amount: -1 }] };
    expect((await problemOf(await post('/v1/check', { json: bad }), 400, 'invalid_request')).field).toBe('charges.0.amount');
    expect((await problemOf(await post('/v1/reservations', { json: bad }), 400, 'invalid_request')).field).toBe('charges.0.amount');
    expect((await problemOf(await post('/v1/release', { json: { metric: 'projects', amount: 0 } }), 400, 'invalid_request')).field).toBe('amount');
    expect((await problemOf(await post('/v1/release', { json: { metric: 'projects', amount: '2' } }), 400, 'invalid_request')).field).toBe('amount');
    await expectNothingCharged();
  });

  it('a wrong content-type on /v1/consume → 415 or 400 problem+json', async () => {
    const body = JSON.stringify({ charges: [{ metric: 'gens', amount: 1 }] });
    for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
      const res = await post('/v1/consume', raw(body, contentType));
      expect([400, 415], contentType).toContain(res.status);
      await problemOf(res, res.status, res.status === 415 ? 'unsupported_media_type' : 'invalid_request');
    }
    // No content-type and no body at all.
    const res = await post('/v1/consume');
    expect([400, 415]).toContain(res.status);
    await problemOf(res, res.status, res.status === 415 ? 'unsupported_media_type' : 'invalid_request');
    await expectNothingCharged();
  });
});

describe('oversized bodies → 413 payload_too_large', () => {
  const big = (bytes: number) => JSON.stringify({ charges: [{ metric: 'gens', amount: 1 }], idempotency_key: 'x', pad: 'p'.repeat(bytes) });

  it('on /v1/consume', async () => {
    const p = await problemOf(await post('/v1/consume', raw(big(MAX_BODY))), 413, 'payload_too_large');
    expect(p.detail).toContain(String(MAX_BODY));
    await expectNothingCharged();
  });

  it('on a proxied route that reads the body (chat) and on one that streams it (exports)', async () => {
    const before = gw.upstream.requests.length;
    const chat = JSON.stringify({ messages: [{ role: 'user', content: 'x'.repeat(MAX_BODY) }], max_tokens: 1 });
    await problemOf(await post('/v1/chat/completions', raw(chat)), 413, 'payload_too_large');
    await problemOf(await post('/v1/exports', raw(JSON.stringify({ format: 'csv', pad: 'x'.repeat(MAX_BODY) }))), 413, 'payload_too_large');
    expect(gw.upstream.requests.length).toBe(before);
    await expectNothingCharged();
  });
});

describe('proxied requests whose charge cannot be read', () => {
  it.each([[-5], [1.5], ['many'], [true], [{ n: 1 }], [1e13]])('max_tokens %j → 400 naming body.max_tokens', async (maxTokens) => {
    const before = gw.upstream.requests.length;
    const res = await post('/v1/chat/completions', { json: { messages: [{ role: 'user', content: 'hi' }], max_tokens: maxTokens } });
    const p = await problemOf(res, 400, 'invalid_request');
    expect(p.field).toBe('body.max_tokens');
    expect(gw.upstream.requests.length).toBe(before);
    await expectNothingCharged();
  });

  it('a non-JSON body to a route that reads body.max_tokens → 400 naming body', async () => {
    const before = gw.upstream.requests.length;
    for (const [body, type] of [
      ['max_tokens=5', 'application/x-www-form-urlencoded'],
      ['{"max_tokens": 5', 'application/json'],
      ['\u00ff\u00fe binary', 'application/octet-stream'],
    ] as const) {
      const p = await problemOf(await post('/v1/chat/completions', raw(body, type)), 400, 'invalid_request');
      expect(p.field).toBe('body');
    }
    expect(gw.upstream.requests.length).toBe(before);
    await expectNothingCharged();
  });
});

describe('malformed Idempotency-Key → 400 naming Idempotency-Key', () => {
  /** Header values go on the wire as bytes: a UTF-8 key is sent as its bytes, as a client would. */
  const utf8 = (s: string) => Buffer.from(s, 'utf8').toString('latin1');
  const badKeys: [string, string][] = [
    ['unicode', utf8('ключ-✓')],
    ['latin-1', 'caf\u00e9'],
    ['300 chars', 'k'.repeat(300)],
    ['a "|"', 'order|42'],
    ['a space', 'two words'],
  ];

  it.each(badKeys)('%s, on /v1/consume and on a proxied route', async (_, key) => {
    const before = gw.upstream.requests.length;
    const consume = await post('/v1/consume', { json: { charges: [{ metric: 'gens', amount: 1 }] }, headers: { 'idempotency-key': key } });
    expect((await problemOf(consume, 400, 'invalid_request')).field).toBe('Idempotency-Key');
    const proxied = await post('/v1/exports', { json: { format: 'csv' }, headers: { 'idempotency-key': key } });
    expect((await problemOf(proxied, 400, 'invalid_request')).field).toBe('Idempotency-Key');
    expect(gw.upstream.requests.length).toBe(before);
    await expectNothingCharged();
  });

  it('the same rules for idempotency_key in the body', async () => {
    for (const key of ['k'.repeat(256), 'a|b', 'ключ', '']) {
      const p = await problemOf(await post('/v1/consume', { json: { charges: [{ metric: 'gens', amount: 1 }], idempotency_key: key } }), 400, 'invalid_request');
      expect(p.field).toBe('idempotency_key');
    }
    await expectNothingCharged();
  });

  it('255 visible ASCII characters is still a valid key (the boundary)', async () => {
    const other = await gw.createSubject();
    const res = await gw.request('/v1/check', {
      method: 'POST',
      key: other.key,
      json: { charges: [{ metric: 'gens', amount: 1 }] },
      headers: { 'idempotency-key': 'k'.repeat(255) },
    });
    await res.arrayBuffer();
    expect(res.status).toBe(200);
  });
});

describe('reservation ids in the path', () => {
  const ids = [
    ['unicode', encodeURIComponent('ключ-✓')],
    ['over-long', 'a'.repeat(4_000)],
    ['a near miss', '0192f3a1-0000-7000-8000-00000000000g'],
    ['encoded slash', encodeURIComponent('../../v1/usage')],
  ];

  it.each(ids)('%s → 400 or 404, never 500', async (_, id) => {
    const settle = await post(`/v1/reservations/${id}/settle`, { json: { actual: 1 } });
    expect([400, 404]).toContain(settle.status);
    const p = await problemOf(settle, settle.status, settle.status === 400 ? 'invalid_request' : 'not_found');
    if (settle.status === 400) expect(p.field).toBe('id');
    const release = await gw.request(`/v1/reservations/${id}`, { method: 'DELETE', key: subject.key });
    expect([400, 404]).toContain(release.status);
    await problemOf(release, release.status, release.status === 400 ? 'invalid_request' : 'not_found');
    await expectNothingCharged();
  });

  it('a well-formed id that does not exist → 404 not_found', async () => {
    const res = await post('/v1/reservations/0192f3a1-0000-7000-8000-000000000000/settle', { json: { actual: 1 } });
    await problemOf(res, 404, 'not_found');
  });
});

describe('authentication', () => {
  const paths: [string, string][] = [
    ['POST', '/v1/consume'],
    ['GET', '/v1/usage'],
    ['POST', '/v1/exports'],
    ['GET', '/v1/projects'],
  ];

  it.each(paths)('no API key: %s %s → 401 with WWW-Authenticate', async (method, path) => {
    const before = gw.upstream.requests.length;
    const res = await gw.request(path, { method, ...(method === 'POST' ? { json: { charges: [{ metric: 'gens', amount: 1 }] } } : {}) });
    const p = await problemOf(res, 401, 'unauthorized');
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer\b/);
    expect(p.detail).toMatch(/API key/);
    expect(gw.upstream.requests.length).toBe(before);
  });

  it('malformed, unknown and revoked keys → 401 with WWW-Authenticate', async () => {
    const revoked = await gw.createSubject();
    await gw.pool.query('UPDATE api_keys SET revoked_at = now() WHERE subject_id = $1', [revoked.id]);
    const unknown = `qg_${randomBytes(32).toString('base64url')}`;
    const presented: [string, Record<string, string>][] = [
      ['empty bearer', { authorization: 'Bearer ' }],
      ['not bearer', { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }],
      ['malformed', { authorization: 'Bearer qg_short' }],
      ['wrong prefix', { authorization: `Bearer sk_${randomBytes(32).toString('base64url')}` }],
      ['two tokens', { authorization: `Bearer ${subject.key} extra` }],
      ['unknown', { authorization: `Bearer ${unknown}` }],
      ['unknown via x-api-key', { 'x-api-key': unknown }],
      ['revoked', { authorization: `Bearer ${revoked.key}` }],
      ['revoked via x-api-key', { 'x-api-key': revoked.key }],
    ];
    const before = gw.upstream.requests.length;
    for (const [label, headers] of presented) {
      for (const path of ['/v1/consume', '/v1/exports']) {
        const res = await gw.request(path, { method: 'POST', headers, json: { charges: [{ metric: 'gens', amount: 1 }] } });
        expect(res.status, `${label} on ${path}`).toBe(401);
        await problemOf(res, 401, 'unauthorized');
        expect(res.headers.get('www-authenticate'), label).toMatch(/^Bearer\b/);
      }
    }
    expect(gw.upstream.requests.length).toBe(before);
    await expectNothingCharged(revoked);
  });
});

describe('unknown paths and methods', () => {
  it('an unknown path → 404 problem+json, with or without a key', async () => {
    for (const key of [undefined, subject.key]) {
      for (const [method, path] of [
        ['GET', '/nope'],
        ['POST', '/v1/consume/extra'],
        ['GET', '/v1/projects/x/y'],
        ['GET', '/v1/%E2%9C%93'],
      ] as const) {
        const res = await gw.request(path, { method, key });
        const p = await problemOf(res, 404, 'not_found');
        expect(p.detail).toContain(method);
      }
    }
    await expectNothingCharged();
  });
});
