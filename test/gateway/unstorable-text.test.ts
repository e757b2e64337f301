import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePolicy } from '../../src/config/load-policy.js';
import { signPayload } from '../../src/lib/hmac-signature.js';
import { encodeCursor } from '../../src/admin/cursor.js';
import { gatewayTestPolicy, startGatewayFixture, TEST_WEBHOOK_SECRET, type GatewayFixture, type TestSubject } from '../support/gateway.js';

/**
 * SPEC invariant 13, first half: text Postgres cannot store (U+0000, lone UTF-16
 * surrogates) is refused at every input with a 400 naming the field, before anything is
 * charged or written — admin bodies, path parameters, query strings and cursors, the
 * public API, billing webhooks, the policy file.
 */

const NUL = 'a\u0000b';
const LONE = 'a\ud800b';

let gw: GatewayFixture;
let subject: TestSubject;

beforeAll(async () => {
  gw = await startGatewayFixture();
  subject = await gw.createSubject();
});
afterAll(() => gw?.close());

async function expect400(res: Response, field: string): Promise<void> {
  const text = await res.text();
  expect(res.status, text).toBe(400);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(JSON.parse(text)).toMatchObject({ code: 'invalid_request', field });
}

/** Nothing charged, nothing in the outbox, no audit entry for the subject. */
async function expectNothingWritten(who: TestSubject = subject): Promise<void> {
  await gw.settled();
  for (const metric of ['gens', 'tokens', 'exports', 'projects']) expect(await gw.used(who, metric), metric).toBe(0);
  expect(await gw.events(who)).toEqual([]);
  const { rows } = await gw.pool.query('SELECT action FROM audit_log WHERE subject_id = $1', [who.id]);
  expect(rows).toEqual([]);
}

const admin = (method: string, path: string, json?: unknown) => gw.admin(path, { method, ...(json !== undefined && { json }) });

describe.each([
  ['U+0000', NUL],
  ['a lone surrogate', LONE],
])('%s', (_, bad) => {
  it('in admin bodies: reason, key name, revoke reason → 400 naming the field', async () => {
    const base = `/admin/v1/subjects/${subject.id}`;
    await expect400(await admin('POST', `${base}/adjust`, { metric: 'gens', delta: 1, reason: bad }), 'reason');
    await expect400(await admin('POST', `${base}/grants`, { metric: 'gens', amount: 1, reason: bad }), 'reason');
    await expect400(await admin('POST', `${base}/reset`, { reason: bad }), 'reason');
    await expect400(await admin('PATCH', base, { plan: 'limited', reason: bad }), 'reason');
    await expect400(await admin('POST', `${base}/keys`, { name: bad }), 'name');
    await expect400(await admin('DELETE', `${base}/grants/g1`, { reason: bad }), 'reason');
    await expectNothingWritten();
  });

  it('in path parameters and query strings of the admin API', async () => {
    // A lone surrogate cannot travel in a URL (percent-encoding is of UTF-8 bytes); NUL can.
    if (bad === NUL) {
      const enc = encodeURIComponent(bad);
      await expect400(await admin('DELETE', `/admin/v1/subjects/${subject.id}/keys/${enc}`), 'keyId');
      await expect400(await admin('DELETE', `/admin/v1/subjects/${subject.id}/grants/${enc}`), 'grantId');
      await expect400(await admin('GET', `/admin/v1/reconciliations/jobs/${enc}`), 'jobId');
      await expect400(await admin('GET', `/admin/v1/audit?action=${enc}`), 'action');
      await expect400(await admin('GET', `/admin/v1/subjects/${enc}`), 'id');
    }
    // In a cursor, both arrive inside its JSON.
    await expect400(await admin('GET', `/admin/v1/subjects?cursor=${encodeCursor([bad])}`), 'cursor');
    await expect400(await admin('GET', `/admin/v1/ledger?cursor=${encodeCursor([new Date().toISOString(), bad])}`), 'cursor');
    await expectNothingWritten();
  });

  it('in the public API: idempotency keys and metric names', async () => {
    const post = (json: unknown) => gw.request('/v1/consume', { method: 'POST', key: subject.key, json });
    await expect400(await post({ charges: [{ metric: 'gens', amount: 1 }], idempotency_key: bad }), 'idempotency_key');
    await expect400(await post({ charges: [{ metric: `gens${bad}`, amount: 1 }] }), 'charges.0.metric');
    await expect400(await gw.request('/v1/release', { method: 'POST', key: subject.key, json: { metric: 'projects', amount: 1, idempotency_key: bad } }), 'idempotency_key');
    await expectNothingWritten();
  });

  it('in billing webhook bodies, also in the data of a type quotagate ignores', async () => {
    const usage = async () => ((await (await gw.request('/v1/usage', { key: subject.key })).json()) as { plan: string }).plan;
    const deliver = (body: unknown) => {
      const raw = JSON.stringify(body);
      return fetch(`${gw.url}/webhooks/billing`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'quotagate-signature': signPayload(TEST_WEBHOOK_SECRET, raw, Math.floor(Date.now() / 1000)) },
        body: raw,
      });
    };
    await expect400(await deliver({ id: `evt${bad}`, type: 'subscription.canceled', data: { subject_id: subject.id } }), 'id');
    await expect400(await deliver({ id: 'evt_x1', type: `subscription.${bad}`, data: {} }), 'type');
    await expect400(await deliver({ id: 'evt_x2', type: 'invoice.paid', data: { note: { text: bad } } }), 'data.note.text');
    await expect400(await deliver({ id: 'evt_x3', type: 'invoice.paid', data: { [bad]: 1 } }), `data.${bad}`);
    const { rows } = await gw.pool.query("SELECT id FROM webhook_events WHERE id IN ('evt_x1', 'evt_x2', 'evt_x3')");
    expect(rows).toEqual([]);
    expect(await usage()).toBe('test');
  });

  it('in the policy file → a ConfigError naming the path', () => {
    const policy = gatewayTestPolicy('http://127.0.0.1:9');
    const bad_ = { ...policy, metrics: { ...policy.metrics, gens: { kind: 'counter' as const, description: bad } } };
    expect(() => parsePolicy(bad_, 'policy.yaml')).toThrow(/metrics\.gens\.description: must not contain U\+0000/);
  });
});

describe('cursors and ids Postgres would refuse', () => {
  it.each([
    ['/admin/v1/ledger', ['not a time', 'x']],
    ['/admin/v1/ledger', ['2026-13-45T00:00:00.000Z', 'x']],
    ['/admin/v1/ledger', [1, 'x']],
    ['/admin/v1/audit', [1.5]],
    ['/admin/v1/audit', [1e300]],
    ['/admin/v1/audit', [-1]],
    ['/admin/v1/reconciliations', ['1']],
    ['/admin/v1/subjects', [42]],
  ])('%s with cursor %j → 400 naming cursor', async (path, key) => {
    await expect400(await admin('GET', `${path}?cursor=${encodeCursor(key as (string | number)[])}`), 'cursor');
  });

  it('a run id beyond a bigint → 400 naming id', async () => {
    await expect400(await admin('GET', '/admin/v1/reconciliations/100000000000000000000'), 'id');
  });

  it('a cursor the API returned still works', async () => {
    const res = await admin('GET', '/admin/v1/ledger?limit=1');
    expect(res.status).toBe(200);
    const { next_cursor } = (await res.json()) as { next_cursor: string | null };
    const cursor = next_cursor ?? encodeCursor([new Date().toISOString(), 'z']);
    expect((await admin('GET', `/admin/v1/ledger?limit=1&cursor=${cursor}`)).status).toBe(200);
  });
});
