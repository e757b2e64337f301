import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGatewayFixture, type GatewayFixture } from '../support/gateway.js';

let a: GatewayFixture;
let b: GatewayFixture;
beforeAll(async () => {
  a = await startGatewayFixture();
  // A second gateway of the same deployment (same Redis prefix), trusting cached keys for
  // a minute: only the revocation broadcast can make it refuse a revoked key at once.
  b = await startGatewayFixture({ env: { QG_KEY_PREFIX: a.keys.prefix, QG_AUTH_CACHE_TTL_MS: '60000' } });
});
afterAll(async () => {
  await b?.close();
  await a?.close();
});

/** One request of every admin route (path parameters need not exist: auth comes first). */
const ADMIN_REQUESTS: [string, string, unknown?][] = [
  ['GET', '/admin/v1/subjects'],
  ['POST', '/admin/v1/subjects', { id: 'x', plan: 'test' }],
  ['GET', '/admin/v1/subjects/x'],
  ['PATCH', '/admin/v1/subjects/x', { plan: 'test' }],
  ['DELETE', '/admin/v1/subjects/x'],
  ['POST', '/admin/v1/subjects/x/keys', {}],
  ['GET', '/admin/v1/subjects/x/keys'],
  ['DELETE', '/admin/v1/subjects/x/keys/k'],
  ['POST', '/admin/v1/subjects/x/reset', { reason: 'r' }],
  ['POST', '/admin/v1/subjects/x/adjust', { metric: 'gens', delta: 1, reason: 'r' }],
  ['POST', '/admin/v1/subjects/x/grants', { metric: 'gens', amount: 1, reason: 'r' }],
  ['GET', '/admin/v1/subjects/x/grants'],
  ['DELETE', '/admin/v1/subjects/x/grants/g'],
  ['GET', '/admin/v1/audit'],
  ['GET', '/admin/v1/ledger'],
  ['POST', '/admin/v1/reconciliations'],
  ['GET', '/admin/v1/reconciliations'],
  ['GET', '/admin/v1/reconciliations/1'],
  ['GET', '/admin/v1/reconciliations/jobs/1'],
];

describe('admin authentication', () => {
  it('answers 401 without a token, with a wrong one, and with an API key — and changes nothing', async () => {
    const subject = await a.createSubject();
    const credentials: (string | undefined)[] = [undefined, 'wrong-token-0123456789', subject.key, 'x'];
    const statuses = await Promise.all(
      ADMIN_REQUESTS.flatMap(([method, path, json]) =>
        credentials.map(async (key) => {
          const res = await a.request(path, { method, key, json });
          const body = (await res.json()) as { code: string };
          return `${method} ${path} ${res.status} ${body.code} ${res.headers.get('content-type')}`;
        }),
      ),
    );
    for (const line of statuses) expect(line).toMatch(/ 401 unauthorized application\/problem\+json$/);
    const { rows } = await a.pool.query("SELECT count(*)::int AS n FROM subjects WHERE id = 'x'");
    expect(rows[0].n).toBe(0);
  });

  it('accepts the token and records a named actor from x-quotagate-actor', async () => {
    const subject = await a.createSubject();
    const res = await a.admin(`/admin/v1/subjects/${subject.id}/keys`, { method: 'POST', json: { name: 'ci' }, headers: { 'x-quotagate-actor': 'alice@example.com' } });
    expect(res.status).toBe(201);
    const audit = (await (await a.admin(`/admin/v1/audit?subject=${subject.id}&action=key`)).json()) as { items: { actor: string }[] };
    expect(audit.items[0]!.actor).toBe('admin:alice@example.com');
  });
});

describe('API keys', () => {
  it('creates a key shown once, lists metadata only, and a revoke is refused at once by a gateway that had it cached', async () => {
    const subject = await a.createSubject();
    const created = (await (await a.admin(`/admin/v1/subjects/${subject.id}/keys`, { method: 'POST', json: { name: 'mobile app' } })).json()) as {
      id: string;
      key: string;
      prefix: string;
    };
    expect(created.key).toMatch(/^qg_[A-Za-z0-9_-]{43}$/);
    expect(created.key.startsWith(created.prefix)).toBe(true);

    // Both gateways cache the key.
    expect((await a.request('/v1/usage', { key: created.key })).status).toBe(200);
    expect((await b.request('/v1/usage', { key: created.key })).status).toBe(200);

    const list = await (await a.admin(`/admin/v1/subjects/${subject.id}/keys`)).text();
    expect(list).not.toContain(created.key);
    const items = (JSON.parse(list) as { items: { id: string; name: string; prefix: string; last_used_at: string | null; revoked_at: string | null }[] }).items;
    expect(items.find((k) => k.id === created.id)).toMatchObject({ name: 'mobile app', prefix: created.prefix, revoked_at: null });
    expect(items.find((k) => k.id === created.id)!.last_used_at).not.toBeNull();
    const stored = await a.pool.query('SELECT hash FROM api_keys WHERE id = $1', [created.id]);
    expect(Buffer.from(stored.rows[0].hash).toString('utf8')).not.toContain(created.key);

    expect((await a.admin(`/admin/v1/subjects/${subject.id}/keys/${created.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await b.request('/v1/usage', { key: created.key })).status).toBe(401);
    expect((await a.request('/v1/usage', { key: created.key })).status).toBe(401);
    // The subject's other key still works; revoking twice is a 404.
    expect((await b.request('/v1/usage', { key: subject.key })).status).toBe(200);
    expect((await a.admin(`/admin/v1/subjects/${subject.id}/keys/${created.id}`, { method: 'DELETE' })).status).toBe(404);
  });

  it('makes a plan change visible at once on a gateway that cached the key', async () => {
    const subject = await a.createSubject({ plan: 'test' });
    expect(((await (await b.request('/v1/usage', { key: subject.key })).json()) as { plan: string }).plan).toBe('test');
    expect((await a.admin(`/admin/v1/subjects/${subject.id}`, { method: 'PATCH', json: { plan: 'unlimited' } })).status).toBe(200);
    expect(((await (await b.request('/v1/usage', { key: subject.key })).json()) as { plan: string }).plan).toBe('unlimited');
  });
});

describe('a database outage', () => {
  it('answers admin requests 503 backend_unavailable with Retry-After, never 500', async () => {
    // Port 1 on loopback: nothing listens, connections are refused at once.
    const down = await startGatewayFixture({ env: { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none' } });
    try {
      for (const [method, path, json] of [
        ['GET', '/admin/v1/subjects'],
        ['POST', '/admin/v1/subjects', { id: 'outage', plan: 'test' }],
        ['GET', '/admin/v1/audit'],
        ['GET', '/admin/v1/reconciliations'],
      ] as [string, string, unknown?][]) {
        const res = await down.admin(path, { method, json });
        expect([res.status, ((await res.json()) as { code: string }).code], `${method} ${path}`).toEqual([503, 'backend_unavailable']);
        expect(res.headers.get('retry-after')).toBe('1');
      }
    } finally {
      await down.close();
    }
  });
});
