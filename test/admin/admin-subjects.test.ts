import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatewayTestPolicy, startGatewayFixture, type GatewayFixture } from '../support/gateway.js';

/** The gateway test policy plus the seed scenario's plans: 10 projects, then 3. */
const policy = (upstream: string) => {
  const base = gatewayTestPolicy(upstream);
  return {
    ...base,
    plans: {
      ...base.plans,
      pro: { limits: { gens: 100, tokens: 10_000, exports: 10, projects: 10 } },
      basic: { limits: { gens: 10, tokens: 1_000, exports: 1, projects: 3 } },
    },
  };
};

let f: GatewayFixture;
beforeAll(async () => {
  f = await startGatewayFixture({ policy });
});
afterAll(() => f?.close());

let n = 0;
const newId = () => `adm-${process.pid}-${Date.now().toString(36)}-${++n}`;

async function createSubject(plan = 'pro') {
  const id = newId();
  const res = await f.admin('/admin/v1/subjects', { method: 'POST', json: { id, plan } });
  expect(res.status).toBe(201);
  const key = await f.admin(`/admin/v1/subjects/${id}/keys`, { method: 'POST', json: { name: 'test' } });
  expect(key.status).toBe(201);
  return { id, plan, key: ((await key.json()) as { key: string }).key };
}

const projectIds: string[] = [];
const createProjects = (key: string, count: number) =>
  Promise.all(
    Array.from({ length: count }, async () => {
      const res = await f.request('/v1/projects', { method: 'POST', key, json: { name: 'p' } });
      if (res.status === 201) projectIds.push(((await res.json()) as { id: string }).id);
      return res.status;
    }),
  );

describe('subjects', () => {
  it('creates, reads (plan, period, usage, grants), lists and refuses a taken id', async () => {
    const s = await createSubject('pro');
    expect(await f.request('/v1/exports', { method: 'POST', key: s.key, json: {} }).then((r) => r.status)).toBe(202);

    const res = await f.admin(`/admin/v1/subjects/${s.id}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      plan: string;
      period: { start: string; end: string };
      metrics: { metric: string; used: number; limit: number; status: string }[];
      grants: unknown[];
    };
    expect(body.plan).toBe('pro');
    expect(Date.parse(body.period.end)).toBeGreaterThan(Date.parse(body.period.start));
    expect(body.metrics.find((m) => m.metric === 'exports')).toMatchObject({ used: 1, limit: 10, status: 'ok' });
    expect(body.grants).toEqual([]);

    const again = await f.admin('/admin/v1/subjects', { method: 'POST', json: { id: s.id, plan: 'pro' } });
    expect(again.status).toBe(409);
    expect(await again.json()).toMatchObject({ code: 'already_exists', field: 'id' });

    expect((await f.admin('/admin/v1/subjects/nobody-here')).status).toBe(404);
  });

  it('pages through subjects by id with a cursor, filtered by plan', async () => {
    const mine = [await createSubject('basic'), await createSubject('basic'), await createSubject('basic')].map((s) => s.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = `/admin/v1/subjects?plan=basic&limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const page = (await (await f.admin(query)).json()) as { items: { id: string; plan: string }[]; next_cursor: string | null };
      expect(page.items.length).toBeLessThanOrEqual(2);
      for (const item of page.items) expect(item.plan).toBe('basic');
      seen.push(...page.items.map((i) => i.id));
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen).toEqual([...seen].sort());
    expect(new Set(seen).size).toBe(seen.length);
    for (const id of mine) expect(seen).toContain(id);

    const bad = await f.admin('/admin/v1/subjects?cursor=not-a-cursor');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ code: 'invalid_request', field: 'cursor' });
  });

  it('deletes a subject: its keys stop working at once, and the deletion is audited', async () => {
    const s = await createSubject();
    expect((await f.request('/v1/usage', { key: s.key })).status).toBe(200); // cached now
    expect((await f.admin(`/admin/v1/subjects/${s.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await f.request('/v1/usage', { key: s.key })).status).toBe(401);
    expect((await f.admin(`/admin/v1/subjects/${s.id}`)).status).toBe(404);
    expect((await f.admin(`/admin/v1/subjects/${s.id}`, { method: 'DELETE' })).status).toBe(404);
    const audit = (await (await f.admin(`/admin/v1/audit?subject=${s.id}`)).json()) as { items: { action: string; actor: string }[] };
    expect(audit.items.map((a) => a.action)).toEqual(['subject.deleted', 'key.created', 'subject.created']);
  });
});

describe('plan changes (SPEC invariant 11)', () => {
  it('refuses a downgrade below a gauge ("delete 2 projects"), then allows it once enough are gone', async () => {
    const s = await createSubject('pro');
    expect(await createProjects(s.key, 5)).toEqual([201, 201, 201, 201, 201]);

    const refused = await f.admin(`/admin/v1/subjects/${s.id}`, { method: 'PATCH', json: { plan: 'basic', reason: 'customer downgraded' } });
    expect(refused.status).toBe(409);
    const problem = (await refused.json()) as { code: string; detail: string; blockers: { metric: string; level: number; limit: number; excess: number; message: string }[] };
    expect(problem.code).toBe('downgrade_blocked');
    expect(problem.detail).toContain('delete 2 projects');
    expect(problem.blockers).toEqual([{ metric: 'projects', level: 5, limit: 3, grants: 0, excess: 2, message: 'delete 2 projects' }]);
    expect(((await (await f.admin(`/admin/v1/subjects/${s.id}`)).json()) as { plan: string }).plan).toBe('pro');

    for (const id of projectIds.splice(0, 3)) expect((await f.request(`/v1/projects/${id}`, { method: 'DELETE', key: s.key })).status).toBe(204);
    const ok = await f.admin(`/admin/v1/subjects/${s.id}`, { method: 'PATCH', json: { plan: 'basic', reason: 'customer downgraded' } });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ id: s.id, plan: 'basic' });
    // The gateway that cached the key sees the new plan on the next request.
    const usage = (await (await f.request('/v1/usage', { key: s.key })).json()) as { plan: string; metrics: { metric: string; limit: number; used: number }[] };
    expect(usage.plan).toBe('basic');
    expect(usage.metrics.find((m) => m.metric === 'projects')).toMatchObject({ limit: 3, used: 2 });
    expect(await createProjects(s.key, 2)).toEqual([201, 402]);

    const audit = (await (await f.admin(`/admin/v1/audit?subject=${s.id}&action=subject`)).json()) as {
      items: { action: string; reason: string; details: { from: { plan: string }; to: { plan: string } } }[];
    };
    expect(audit.items[0]).toMatchObject({ action: 'subject.changed', reason: 'customer downgraded', details: { from: { plan: 'pro' }, to: { plan: 'basic' } } });
  });

  it('applies a blocked downgrade with force: true, audited as forced; counters above the new limit stay', async () => {
    const s = await createSubject('pro');
    await createProjects(s.key, 5);
    const exports = await Promise.all(Array.from({ length: 4 }, () => f.request('/v1/exports', { method: 'POST', key: s.key, json: {} }).then((r) => r.status)));
    expect(exports).toEqual([202, 202, 202, 202]);
    const forced = await f.admin(`/admin/v1/subjects/${s.id}`, { method: 'PATCH', json: { plan: 'basic', force: true, reason: 'non-payment' } });
    expect(forced.status).toBe(200);
    const detail = (await (await f.admin(`/admin/v1/subjects/${s.id}`)).json()) as { metrics: { metric: string; used: number; limit: number; status: string }[] };
    expect(detail.metrics.find((m) => m.metric === 'exports')).toMatchObject({ used: 4, limit: 1, status: 'exceeded' });
    expect(detail.metrics.find((m) => m.metric === 'projects')).toMatchObject({ used: 5, limit: 3 });
    expect((await f.request('/v1/exports', { method: 'POST', key: s.key, json: {} })).status).toBe(402);
    const audit = (await (await f.admin(`/admin/v1/audit?subject=${s.id}&action=subject.changed`)).json()) as { items: { details: { forced?: boolean } }[] };
    expect(audit.items[0]!.details.forced).toBe(true);
  });

  it('creates a subject with limit overrides and changes them', async () => {
    const id = newId();
    const created = await f.admin('/admin/v1/subjects', { method: 'POST', json: { id, plan: 'basic', overrides: { exports: 2, gens: null } } });
    expect(created.status).toBe(201);
    expect(await created.json()).toMatchObject({ overrides: { exports: 2, gens: null } });
    const detail = (await (await f.admin(`/admin/v1/subjects/${id}`)).json()) as { metrics: { metric: string; limit: number | null }[] };
    expect(detail.metrics.find((m) => m.metric === 'exports')!.limit).toBe(2);
    expect(detail.metrics.find((m) => m.metric === 'gens')!.limit).toBeNull();
    const changed = await f.admin(`/admin/v1/subjects/${id}`, { method: 'PATCH', json: { overrides: { exports: 7 } } });
    expect(await changed.json()).toMatchObject({ overrides: { exports: 7 } });
    const bad = await f.admin('/admin/v1/subjects', { method: 'POST', json: { id: newId(), plan: 'basic', overrides: { bananas: 1 } } });
    expect(bad.status).toBe(400);
  });

  it('moves the anchor: counters start a new period at 0, gauges stay', async () => {
    const s = await createSubject('pro');
    await createProjects(s.key, 2);
    await f.request('/v1/exports', { method: 'POST', key: s.key, json: {} });
    const anchor = new Date(Date.now() - 1000).toISOString();
    expect((await f.admin(`/admin/v1/subjects/${s.id}`, { method: 'PATCH', json: { anchor } })).status).toBe(200);
    const detail = (await (await f.admin(`/admin/v1/subjects/${s.id}`)).json()) as { anchor: string; period: { start: string }; metrics: { metric: string; used: number }[] };
    expect(Date.parse(detail.period.start)).toBe(Date.parse(anchor));
    expect(detail.metrics.find((m) => m.metric === 'exports')!.used).toBe(0);
    expect(detail.metrics.find((m) => m.metric === 'projects')!.used).toBe(2);
  });
});
