import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkerHandle } from '../../src/worker/worker.js';
import { startGatewayFixture, type GatewayFixture, type TestSubject } from '../support/gateway.js';
import { compareLedger, startTestWorker, waitFor, waitForDrain } from '../support/ledger-checks.js';
import { databaseUrl } from '../support/services.js';

let f: GatewayFixture;
let worker: WorkerHandle;
beforeAll(async () => {
  f = await startGatewayFixture();
  worker = await startTestWorker({ keys: f.keys, redisUrl: f.redisUrl, databaseUrl: databaseUrl(), policy: f.policy });
});
afterAll(async () => {
  await worker?.close();
  await f?.close();
});

const consume = (s: TestSubject, metric: string, amount = 1) =>
  f.request('/v1/consume', { method: 'POST', key: s.key, json: { charges: [{ metric, amount }] } }).then((r) => r.status);
const adminJson = async <T>(path: string, init?: RequestInit & { json?: unknown }) => {
  const res = await f.admin(path, init);
  return { status: res.status, body: (await res.json()) as T };
};
/** A stream entry id's place in its stream. */
const streamOrder = (id: string) => id.split('-').map(BigInt) as [bigint, bigint];
const after = (a: string, b: string) => {
  const [am, as] = streamOrder(a);
  const [bm, bs] = streamOrder(b);
  return am > bm || (am === bm && as > bs);
};

describe('reset', () => {
  it('resets while 200 consumes run: counter = ledger sum since the reset event, audited with actor, reason and previous value', async () => {
    const s = await f.createSubject({ plan: 'unlimited' });
    const requests: Promise<number>[] = [];
    let reset: Promise<{ status: number; body: { reset: { metric: string; previous: number }[] } }> | undefined;
    for (let i = 0; i < 200; i++) {
      requests.push(consume(s, 'gens'));
      if (i === 100) reset = adminJson(`/admin/v1/subjects/${s.id}/reset`, { method: 'POST', json: { metrics: ['gens'], reason: 'support ticket 4711' } });
    }
    expect(await Promise.all(requests)).toEqual(Array(200).fill(200));
    const answer = await reset!;
    expect(answer.status).toBe(200);
    const previous = answer.body.reset[0]!.previous;
    expect(answer.body.reset).toEqual([{ metric: 'gens', previous }]);

    await waitForDrain(f.redis, f.keys);
    const { rows } = await f.pool.query<{ event_id: string; kind: string; delta: string; stream_id: string; extra: { previous?: number } }>(
      `SELECT event_id, kind, delta, stream_id, extra FROM usage_events WHERE subject_id = $1 AND metric = 'gens' ORDER BY occurred_at`,
      [s.id],
    );
    const resetEvent = rows.find((r) => r.kind === 'reset')!;
    expect(resetEvent.extra.previous).toBe(previous);
    expect(Number(resetEvent.delta)).toBe(-previous);
    const since = rows.filter((r) => r.kind === 'consume' && after(r.stream_id, resetEvent.stream_id));
    const counter = await f.used(s, 'gens');
    expect(counter).toBe(since.reduce((sum, r) => sum + Number(r.delta), 0));
    expect(counter).toBe(200 - previous);
    expect((await compareLedger(f.pool, f.redis, f.keys, [s.id])).mismatches).toEqual([]);

    const audit = await waitFor(
      'the reset audit entry',
      async () => (await f.pool.query('SELECT actor, action, reason, details, event_id FROM audit_log WHERE subject_id = $1 AND action = $2', [s.id, 'usage.reset'])).rows[0],
    );
    expect(audit).toMatchObject({ actor: 'admin', reason: 'support ticket 4711', event_id: resetEvent.event_id, details: { metric: 'gens', previous } });
  });

  it('resets every counter by default and never a gauge', async () => {
    const s = await f.createSubject();
    await Promise.all([consume(s, 'gens'), consume(s, 'exports'), f.request('/v1/projects', { method: 'POST', key: s.key, json: {} })]);
    const { body } = await adminJson<{ reset: { metric: string; previous: number }[] }>(`/admin/v1/subjects/${s.id}/reset`, { method: 'POST', json: { reason: 'new contract' } });
    expect(Object.fromEntries(body.reset.map((r) => [r.metric, r.previous]))).toEqual({ gens: 1, tokens: 0, exports: 1 });
    expect(await f.used(s, 'projects')).toBe(1);
    const gauge = await f.admin(`/admin/v1/subjects/${s.id}/reset`, { method: 'POST', json: { metrics: ['projects'], reason: 'x' } });
    expect(gauge.status).toBe(400);
    expect(await gauge.json()).toMatchObject({ field: 'metrics.0' });
  });
});

describe('grants and adjustments', () => {
  it('grants credit used after the plan, lists it, revokes it — each audited', async () => {
    const s = await f.createSubject(); // test plan: 5 exports
    const expiresAt = new Date(Date.now() + 86_400_000).toISOString();
    const granted = await adminJson<{ id: string; balance: number }>(`/admin/v1/subjects/${s.id}/grants`, {
      method: 'POST',
      json: { metric: 'exports', amount: 3, expires_at: expiresAt, reason: 'apology' },
    });
    expect(granted.status).toBe(201);
    expect(granted.body.balance).toBe(3);
    const statuses = await Promise.all(Array.from({ length: 10 }, () => consume(s, 'exports')));
    expect(statuses.filter((x) => x === 200)).toHaveLength(8);

    await waitForDrain(f.redis, f.keys);
    const list = await adminJson<{ items: { id: string; metric: string; remaining: number; amount: number; reason: string; expires_at: string }[] }>(
      `/admin/v1/subjects/${s.id}/grants`,
    );
    expect(list.body.items).toEqual([]); // used up: nothing usable is left

    const second = await adminJson<{ id: string }>(`/admin/v1/subjects/${s.id}/grants`, { method: 'POST', json: { metric: 'gens', amount: 7, reason: 'promo' } });
    await waitForDrain(f.redis, f.keys);
    const listed = await adminJson<{ items: { id: string; metric: string; remaining: number; amount: number | null; reason: string | null; expires_at: string | null }[] }>(
      `/admin/v1/subjects/${s.id}/grants`,
    );
    expect(listed.body.items).toEqual([expect.objectContaining({ id: second.body.id, metric: 'gens', remaining: 7, amount: 7, reason: 'promo', expires_at: null })]);

    const revoked = await adminJson<{ revoked_remaining: number; balance: number }>(`/admin/v1/subjects/${s.id}/grants/${second.body.id}`, {
      method: 'DELETE',
      json: { reason: 'abuse' },
    });
    expect(revoked).toEqual({ status: 200, body: { id: second.body.id, metric: 'gens', revoked_remaining: 7, balance: 0 } });
    expect((await f.admin(`/admin/v1/subjects/${s.id}/grants/${second.body.id}`, { method: 'DELETE' })).status).toBe(404);

    await waitForDrain(f.redis, f.keys);
    const actions = await waitFor('grant audit entries', async () => {
      const { rows } = await f.pool.query<{ action: string; reason: string }>('SELECT action, reason FROM audit_log WHERE subject_id = $1 ORDER BY id', [s.id]);
      return rows.length >= 3 ? rows : null;
    });
    expect(actions).toEqual([
      { action: 'grant.created', reason: 'apology' },
      { action: 'grant.created', reason: 'promo' },
      { action: 'grant.revoked', reason: 'abuse' },
    ]);
  });

  it('adjusts usage up and down, never below 0, audited', async () => {
    const s = await f.createSubject();
    await Promise.all([consume(s, 'gens'), consume(s, 'gens'), consume(s, 'gens')]);
    expect((await adminJson(`/admin/v1/subjects/${s.id}/adjust`, { method: 'POST', json: { metric: 'gens', delta: 4, reason: 'missed usage' } })).body).toEqual({
      metric: 'gens',
      value: 7,
      applied: 4,
    });
    expect((await adminJson(`/admin/v1/subjects/${s.id}/adjust`, { method: 'POST', json: { metric: 'gens', delta: -10, reason: 'refund' } })).body).toEqual({
      metric: 'gens',
      value: 0,
      applied: -7,
    });
    await waitForDrain(f.redis, f.keys);
    expect((await compareLedger(f.pool, f.redis, f.keys, [s.id])).mismatches).toEqual([]);
    const audit = await adminJson<{ items: { action: string; reason: string; details: { delta: number } }[] }>(`/admin/v1/audit?subject=${s.id}&action=usage`);
    expect(audit.body.items.map((a) => [a.action, a.reason, a.details.delta])).toEqual([
      ['usage.adjusted', 'refund', -7],
      ['usage.adjusted', 'missed usage', 4],
    ]);
  });
});

describe('every admin action is audited, whether or not it moved a counter', () => {
  it('an adjust that moved nothing, a reset of counters at 0, a plan change to the same plan, a reconciliation request', async () => {
    const s = await f.createSubject();
    expect((await adminJson(`/admin/v1/subjects/${s.id}/adjust`, { method: 'POST', json: { metric: 'gens', delta: -5, reason: 'nothing to take' } })).body).toEqual({
      metric: 'gens',
      value: 0,
      applied: 0,
    });
    const reset = await adminJson<{ reset: { metric: string; previous: number }[] }>(`/admin/v1/subjects/${s.id}/reset`, { method: 'POST', json: { reason: 'fresh start' } });
    expect(reset.body.reset.map((r) => r.previous)).toEqual([0, 0, 0]);
    expect((await f.admin(`/admin/v1/subjects/${s.id}`, { method: 'PATCH', json: { plan: s.plan, reason: 'same plan' } })).status).toBe(200);
    const queued = await f.admin('/admin/v1/reconciliations', { method: 'POST', headers: { 'x-quotagate-actor': `ops-${s.id}` } });
    expect(queued.status).toBe(202);
    const { job_id } = (await queued.json()) as { job_id: string };

    await waitForDrain(f.redis, f.keys);
    const actions = await waitFor('the audit entries', async () => {
      // The usage changes are audited by the worker as it flushes their events: by action.
      const { rows } = await f.pool.query<{ action: string; reason: string | null }>('SELECT action, reason FROM audit_log WHERE subject_id = $1 ORDER BY action, id', [s.id]);
      return rows.length >= 5 ? rows : null;
    });
    expect(actions.map((a) => [a.action, a.reason])).toEqual([
      ['subject.changed', 'same plan'],
      ['usage.adjusted', 'nothing to take'],
      ['usage.reset', 'fresh start'],
      ['usage.reset', 'fresh start'],
      ['usage.reset', 'fresh start'],
    ]);
    const { rows: requested } = await f.pool.query('SELECT action, details FROM audit_log WHERE actor = $1', [`admin:ops-${s.id}`]);
    expect(requested).toEqual([{ action: 'reconciliation.requested', details: { job_id } }]);
  });
});

describe('validation of admin input', () => {
  it('answers 400 problem+json naming the field, and changes nothing', async () => {
    const s = await f.createSubject();
    const past = new Date(Date.now() - 60_000).toISOString();
    const cases: [string, string, unknown, string][] = [
      ['POST', '/admin/v1/subjects', { id: 'new-subject', plan: 'platinum' }, 'plan'],
      ['POST', '/admin/v1/subjects', { id: 'ünïcødé', plan: 'test' }, 'id'],
      ['POST', '/admin/v1/subjects', { id: 'x'.repeat(129), plan: 'test' }, 'id'],
      ['POST', '/admin/v1/subjects', { id: 'ok-id', plan: 'test', anchor: 'tomorrow' }, 'anchor'],
      ['POST', '/admin/v1/subjects', { id: 'ok-id', plan: 'test', surprise: 1 }, 'surprise'],
      ['PATCH', `/admin/v1/subjects/${s.id}`, { plan: 'platinum' }, 'plan'],
      ['PATCH', `/admin/v1/subjects/${s.id}`, {}, 'plan'],
      ['POST', `/admin/v1/subjects/${s.id}/grants`, { metric: 'bananas', amount: 1, reason: 'r' }, 'metric'],
      ['POST', `/admin/v1/subjects/${s.id}/grants`, { metric: 'gens', amount: -5, reason: 'r' }, 'amount'],
      ['POST', `/admin/v1/subjects/${s.id}/grants`, { metric: 'gens', amount: 1.5, reason: 'r' }, 'amount'],
      ['POST', `/admin/v1/subjects/${s.id}/grants`, { metric: 'gens', amount: 5, expires_at: past, reason: 'r' }, 'expires_at'],
      ['POST', `/admin/v1/subjects/${s.id}/grants`, { metric: 'gens', amount: 5, reason: 'r'.repeat(501) }, 'reason'],
      ['POST', `/admin/v1/subjects/${s.id}/grants`, { metric: 'gens', amount: 5 }, 'reason'],
      ['POST', `/admin/v1/subjects/${s.id}/adjust`, { metric: 'gens', delta: 0, reason: 'r' }, 'delta'],
      ['POST', `/admin/v1/subjects/${s.id}/adjust`, { metric: 'gens', delta: '5', reason: 'r' }, 'delta'],
      ['POST', `/admin/v1/subjects/${s.id}/reset`, { metrics: ['nope'], reason: 'r' }, 'metrics.0'],
      ['POST', `/admin/v1/subjects/${s.id}/reset`, { reason: '   ' }, 'reason'],
      ['GET', '/admin/v1/ledger?kind=stolen', undefined, 'kind'],
      ['GET', '/admin/v1/audit?limit=100000', undefined, 'limit'],
      ['GET', '/admin/v1/audit?from=yesterday', undefined, 'from'],
    ];
    for (const [method, path, json, field] of cases) {
      const res = await f.admin(path, { method, json });
      const body = (await res.json()) as { code: string; field: string; detail: string };
      expect([res.status, body.code, body.field], `${method} ${path} ${JSON.stringify(json)?.slice(0, 80)}`).toEqual([400, 'invalid_request', field]);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(body.detail).not.toMatch(/at .*\.ts:\d+/); // no stack trace
    }
    const bad = await f.admin(`/admin/v1/subjects/${s.id}/grants`, { method: 'POST', body: '{"metric": "gens",', headers: { 'content-type': 'application/json' } });
    expect(bad.status).toBe(400);

    const detail = await adminJson<{ plan: string; metrics: { used: number }[]; grants: unknown[] }>(`/admin/v1/subjects/${s.id}`);
    expect(detail.body.plan).toBe('test');
    expect(detail.body.grants).toEqual([]);
    expect(detail.body.metrics.every((m) => m.used === 0)).toBe(true);
    expect((await f.pool.query("SELECT count(*)::int AS n FROM subjects WHERE id IN ('new-subject', 'ok-id')")).rows[0].n).toBe(0);
  });
});

describe('ledger and audit queries', () => {
  it('pages the ledger newest first with a cursor, filtered by subject, metric and kind', async () => {
    const s = await f.createSubject({ plan: 'unlimited' });
    await Promise.all(Array.from({ length: 7 }, () => consume(s, 'gens')));
    await Promise.all(Array.from({ length: 2 }, () => consume(s, 'exports')));
    await waitForDrain(f.redis, f.keys);
    const seen: { event_id: string; occurred_at: string; metric: string; kind: string }[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: { body: { items: typeof seen; next_cursor: string | null } } = await adminJson(
        `/admin/v1/ledger?subject=${s.id}&metric=gens&kind=consume&limit=3${cursor ? `&cursor=${cursor}` : ''}`,
      );
      seen.push(...page.body.items);
      cursor = page.body.next_cursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toHaveLength(7);
    expect(new Set(seen.map((e) => e.event_id)).size).toBe(7);
    for (const e of seen) expect([e.metric, e.kind]).toEqual(['gens', 'consume']);
    const times = seen.map((e) => Date.parse(e.occurred_at));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    const all = await adminJson<{ items: unknown[] }>(`/admin/v1/ledger?subject=${s.id}`);
    expect(all.body.items).toHaveLength(9);
  });
});

describe('reconciliation on demand', () => {
  it('queues a run on the worker and serves its report', async () => {
    const queued = await adminJson<{ job_id: string }>('/admin/v1/reconciliations', { method: 'POST' });
    expect(queued.status).toBe(202);
    const job = await waitFor(
      'the reconciliation job',
      async (): Promise<{ state: string; run_id: number | null } | undefined> => {
        const { body } = await adminJson<{ state: string; run_id: number | null; error: string | null }>(`/admin/v1/reconciliations/jobs/${queued.body.job_id}`);
        if (body.state === 'failed') throw new Error(`reconciliation failed: ${body.error}`);
        return body.state === 'completed' ? body : undefined;
      },
      60_000,
      100,
    );
    expect(job.run_id).toBeGreaterThan(0);
    const report = await adminJson<{ id: number; status: string; trigger: string; drifts: unknown[] }>(`/admin/v1/reconciliations/${job.run_id}`);
    expect(report.body).toMatchObject({ id: job.run_id, trigger: 'manual', drifts: expect.any(Array) });
    const runs = await adminJson<{ items: { id: number }[] }>('/admin/v1/reconciliations?limit=5');
    expect(runs.body.items.map((r) => r.id)).toContain(job.run_id);
    expect((await f.admin('/admin/v1/reconciliations/999999999')).status).toBe(404);
  });
});
