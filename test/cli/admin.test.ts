import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../support/cli.js';
import { gatewayTestPolicy, startGatewayFixture, TEST_ADMIN_TOKEN, type GatewayFixture } from '../support/gateway.js';

/** The admin shortcuts against a real gateway: JSON answers on stdout, problems on stderr with exit 1. */

let f: GatewayFixture;
beforeAll(async () => {
  // `tiny` allows one project: a downgrade to it from three projects is blocked.
  f = await startGatewayFixture({
    policy: (upstream) => {
      const base = gatewayTestPolicy(upstream);
      return { ...base, plans: { ...base.plans, tiny: { limits: { gens: 1, tokens: 100, exports: 1, projects: 1 } } } };
    },
  });
});
afterAll(() => f?.close());

const cli = (...args: string[]) => runCli(args, { QUOTAGATE_URL: f.url, ADMIN_TOKEN: TEST_ADMIN_TOKEN });
/** The JSON the command printed (undefined for none), after checking it succeeded. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- its shape is what the assertions check
const ok = (r: CliResult): any => {
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r.stdout === '' ? undefined : JSON.parse(r.stdout);
};
/** The problem+json the command printed to stderr, after checking it failed with exit 1. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- its shape is what the assertions check
const failed = (r: CliResult, code: string): any => {
  expect(r.stdout).toBe('');
  expect(r.code).toBe(1);
  const problem = JSON.parse(r.stderr);
  expect(problem.code).toBe(code);
  return problem;
};

let n = 0;
const newId = () => `cli-${process.pid}-${Date.now().toString(36)}-${++n}`;
const metric = (usage: { metrics: { metric: string }[] }, name: string) => usage.metrics.find((m) => m.metric === name);

describe('admin shortcuts', () => {
  it('subjects create, get and delete; a taken id and a missing subject are problems on stderr', async () => {
    const id = newId();
    const anchor = new Date(Date.UTC(new Date().getUTCFullYear() - 1, 0, 31)).toISOString(); // a 31st anchor, last year
    const created = ok(await cli('subjects', 'create', id, '--plan', 'test', '--anchor', anchor));
    expect(created).toMatchObject({ id, plan: 'test', anchor });
    expect(ok(await cli('subjects', 'get', id))).toMatchObject({ id, plan: 'test', period: expect.any(Object), metrics: expect.any(Array) });
    expect(failed(await cli('subjects', 'create', id, '--plan', 'test'), 'already_exists').field).toBe('id');
    expect(failed(await cli('subjects', 'create', newId(), '--plan', 'platinum'), 'invalid_request').field).toBe('plan');

    expect(ok(await cli('subjects', 'delete', id))).toBeUndefined();
    expect(failed(await cli('subjects', 'get', id), 'not_found').status).toBe(404);
  });

  it('keys create (the secret once), list (no secrets), revoke', async () => {
    const id = newId();
    ok(await cli('subjects', 'create', id, '--plan', 'test'));
    const key = ok(await cli('keys', 'create', id, '--name', 'ci'));
    expect(key).toMatchObject({ id: expect.any(String), key: expect.stringMatching(/^qg_/), name: 'ci' });
    const { items } = ok(await cli('keys', 'list', id));
    expect(items).toEqual([expect.objectContaining({ id: key.id, name: 'ci' })]);
    expect(JSON.stringify(items)).not.toContain(key.key);
    expect((await f.request('/v1/usage', { key: key.key })).status).toBe(200);

    expect(ok(await cli('keys', 'revoke', id, key.id))).toBeUndefined();
    expect((await f.request('/v1/usage', { key: key.key })).status).toBe(401);
  });

  it('set-plan: a downgrade below a gauge is refused (409 naming what must go) unless --force', async () => {
    const id = newId();
    ok(await cli('subjects', 'create', id, '--plan', 'test'));
    const { key } = ok(await cli('keys', 'create', id));
    for (let i = 0; i < 3; i++) expect((await f.request('/v1/projects', { method: 'POST', key, json: { name: `p${i}` } })).status).toBe(201);
    await f.settled();

    const blocked = failed(await cli('subjects', 'set-plan', id, 'tiny'), 'downgrade_blocked');
    expect(JSON.stringify(blocked)).toContain('delete 2 projects');
    expect(ok(await cli('subjects', 'get', id)).plan).toBe('test');
    expect(ok(await cli('subjects', 'set-plan', id, 'tiny', '--force', '--reason', 'cli test'))).toMatchObject({ id, plan: 'tiny' });
  });

  it('usage, reset, grant and adjust', async () => {
    const id = newId();
    ok(await cli('subjects', 'create', id, '--plan', 'test'));
    const { key } = ok(await cli('keys', 'create', id));
    expect(
      (
        await f.request('/v1/consume', {
          method: 'POST',
          key,
          json: {
            charges: [
              { metric: 'exports', amount: 3 },
              { metric: 'gens', amount: 4 },
            ],
          },
        })
      ).status,
    ).toBe(200);

    const usage = ok(await cli('usage', id));
    expect(Object.keys(usage)).toEqual(['subject', 'plan', 'period', 'metrics', 'grants']);
    expect(usage).toMatchObject({ subject: id, plan: 'test' });
    expect(metric(usage, 'exports')).toMatchObject({ used: 3, limit: 5 });

    ok(await cli('reset', id, '--metric', 'exports', '--reason', 'support ticket 1'));
    expect(metric(ok(await cli('usage', id)), 'exports')).toMatchObject({ used: 0 });
    expect(metric(ok(await cli('usage', id)), 'gens')).toMatchObject({ used: 4 });

    const expires = new Date(Date.now() + 86_400_000).toISOString();
    expect(ok(await cli('grant', id, '--metric', 'exports', '--amount', '7', '--reason', 'goodwill', '--expires-at', expires))).toMatchObject({ metric: 'exports', amount: 7 });
    expect(failed(await cli('grant', id, '--metric', 'exports', '--amount', '-1', '--reason', 'bad'), 'invalid_request').field).toBe('amount');

    ok(await cli('adjust', id, '--metric', 'gens', '--delta=-3', '--reason', 'double charge'));
    ok(await cli('adjust', id, '--metric', 'gens', '--delta', '10', '--reason', 'manual'));
    expect(metric(ok(await cli('usage', id)), 'gens')).toMatchObject({ used: 11 });
  });

  it('history: usage per day of the metrics asked, with forecasts', async () => {
    const id = newId();
    ok(await cli('subjects', 'create', id, '--plan', 'test'));
    const history = ok(await cli('history', id, '--days', '7', '--metric', 'gens'));
    expect(history).toMatchObject({ subject: id, plan: 'test', days: 7 });
    expect(history.metrics.map((m: { metric: string }) => m.metric)).toEqual(['gens']);
    expect(history.metrics[0].daily).toHaveLength(7);
    expect(history.metrics[0]).toMatchObject({ forecast: null, projection: [] });
    expect(failed(await cli('history', id, '--days', '0'), 'invalid_request').field).toBe('days');
  });

  it('reconcile queues a run and prints its job id', async () => {
    expect(ok(await cli('reconcile'))).toMatchObject({ job_id: expect.any(String) });
  });

  it('a wrong token is 401 on stderr; an unreachable gateway says where it looked', async () => {
    const wrong = await runCli(['usage', 'demo'], { QUOTAGATE_URL: f.url, ADMIN_TOKEN: 'not-the-admin-token-at-all' });
    failed(wrong, 'unauthorized');
    const down = await runCli(['usage', 'demo', '--url', 'http://127.0.0.1:2', '--token', TEST_ADMIN_TOKEN]);
    expect(down.code).toBe(1);
    expect(down.stderr).toContain('cannot reach the gateway at http://127.0.0.1:2/admin/v1 (ECONNREFUSED)');
  });
  it("dead-letters list and replay: the admin API's answers; replay needs an id or --all", async () => {
    const parked = ok(await cli('dead-letters', 'list', '--state', 'parked', '--subject', newId()));
    expect(parked).toEqual({ items: [], next_cursor: null });
    expect(failed(await cli('dead-letters', 'replay', `evt-${newId()}:1`), 'not_found').field).toBe('eventId');
    expect(ok(await cli('dead-letters', 'replay', '--all'))).toMatchObject({ replayed: expect.any(Array), refused: expect.any(Array), more: expect.any(Boolean) });
    const usage = await cli('dead-letters', 'replay');
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/event id, or --all/);
  });
});
