import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import express from 'express';
import { Hono, type Context } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QuotagateClient } from '../../packages/client/src/client.js';
import { quota as expressQuota } from '../../packages/client/src/middleware/express.js';
import { quota as honoQuota, type QuotaVariables } from '../../packages/client/src/middleware/hono.js';
import { withQuota } from '../../packages/client/src/middleware/next.js';
import { QuotaRun, type QuotaContext, type QuotaOptions } from '../../packages/client/src/middleware/quota-run.js';
import { startGatewayFixture, type GatewayFixture, type TestSubject } from '../support/gateway.js';

/**
 * The middleware of each framework protecting an app's own routes against a real gateway
 * (plan `test`: gens 50, tokens 1200, projects 5): decided before the handler, refunded
 * when it throws or answers 5xx, settled from what it reports, gauges released after a
 * delete, a retry with the same Idempotency-Key charged once.
 */

let gw: GatewayFixture;
beforeAll(async () => {
  gw = await startGatewayFixture();
});
afterAll(() => gw?.close());

/** What every app does in its handlers; `runs` counts the handler runs per subject. */
class AppState {
  readonly runs = new Map<string, number>();
  readonly clients = new Map<string, QuotagateClient>();
  add(subject: TestSubject): void {
    this.clients.set(subject.id, new QuotagateClient({ baseUrl: gw.url, apiKey: subject.key, timeoutMs: 30_000 }));
  }
  /** The signed-in user's subject (a header here; a session in a real app). */
  clientOf(user: string | null | undefined): QuotagateClient {
    const client = user ? this.clients.get(user) : undefined;
    if (!client) throw new Error(`unknown user ${user}`);
    return client;
  }
  /** The handler of POST /generate: counts a run, then does what the request asks. */
  generate(user: string, fail: string | null, quota: QuotaContext): { status: number; body: unknown } {
    const run = (this.runs.get(user) ?? 0) + 1;
    this.runs.set(user, run);
    if (fail === 'throw') throw new Error('the model crashed');
    if (fail === '500') return { status: 500, body: { error: 'upstream failed' } };
    return { status: 200, body: { run, reservation: quota.reservationId, used: quota.metrics.find((m) => m.metric === 'gens')?.used } };
  }
}

type Send = (path: string, init: { method: string; user: string; headers?: Record<string, string>; json?: unknown }) => Promise<Response>;

interface Adapter {
  name: string;
  start(state: AppState): Promise<{ send: Send; close(): Promise<void> }>;
}

const generate = { charges: [{ metric: 'gens', amount: 1 }] };
const complete = { charges: [{ metric: 'tokens', amount: 100 }] };
const remove = { release: [{ metric: 'projects', amount: 1 }] };

/** Sends to a server listening on loopback. */
const httpSender =
  (url: string): Send =>
  (path, { method, user, headers, json }) =>
    fetch(`${url}${path}`, {
      method,
      headers: { 'x-user': user, ...(json === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: json === undefined ? undefined : JSON.stringify(json),
    });

const adapters: Adapter[] = [
  {
    name: 'Hono',
    async start(state) {
      const app = new Hono<{ Variables: QuotaVariables }>();
      const options = <T extends object>(o: T): QuotaOptions<Context> & T => ({ client: (c) => state.clientOf(c.req.header('x-user')), ...o });
      app.post('/generate', honoQuota(options(generate)), (c) => {
        const { status, body } = state.generate(c.req.header('x-user')!, c.req.header('x-fail') ?? null, c.get('quota'));
        return c.json(body, status as 200);
      });
      app.post('/complete', honoQuota(options(complete)), async (c) => {
        c.get('quota').report(((await c.req.json()) as { used: number }).used);
        return c.json({ ok: true });
      });
      app.delete('/projects/:id', honoQuota(options(remove)), (c) => c.json({ deleted: c.req.param('id') }));
      app.onError((_err, c) => c.json({ error: 'internal' }, 500));
      const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 });
      await once(server, 'listening');
      const { port } = server.address() as AddressInfo;
      return { send: httpSender(`http://127.0.0.1:${port}`), close: () => new Promise<void>((r) => server.close(() => r())) };
    },
  },
  {
    name: 'Express',
    async start(state) {
      const app = express();
      app.use(express.json());
      const options = <T extends object>(o: T) => ({ client: (req: express.Request) => state.clientOf(req.get('x-user')), ...o });
      app.post('/generate', expressQuota(options(generate)), (req, res) => {
        const { status, body } = state.generate(req.get('x-user')!, req.get('x-fail') ?? null, res.locals.quota!);
        res.status(status).json(body);
      });
      app.post('/complete', expressQuota(options(complete)), (req, res) => {
        res.locals.quota!.report((req.body as { used: number }).used);
        res.json({ ok: true });
      });
      app.delete('/projects/:id', expressQuota(options(remove)), (req, res) => {
        res.json({ deleted: req.params.id });
      });
      // Express's own error answer for a thrown handler: a 500.
      // Express tells an error handler by its four parameters, so `next` stays though unused.
      // eslint-disable-next-line @typescript-eslint/no-unused-vars
      app.use((_err: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
        res.status(500).json({ error: 'internal' });
      });
      const server = app.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const { port } = server.address() as AddressInfo;
      return {
        send: httpSender(`http://127.0.0.1:${port}`),
        close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
      };
    },
  },
  {
    name: 'Next.js route handlers',
    async start(state) {
      // App Router handlers are plain functions of a Request: called as Next calls them.
      const options = <T extends object>(o: T) => ({ client: (req: Request) => state.clientOf(req.headers.get('x-user')), ...o });
      const routes: Record<string, (req: Request, ctx: { params: Promise<Record<string, string>> }) => Response | Promise<Response>> = {
        'POST /generate': withQuota(async (req, { quota }) => {
          const { status, body } = state.generate(req.headers.get('x-user')!, req.headers.get('x-fail'), quota);
          return Response.json(body, { status });
        }, options(generate)),
        'POST /complete': withQuota(async (req, { quota }) => {
          quota.report(((await req.json()) as { used: number }).used);
          return Response.json({ ok: true });
        }, options(complete)),
        'DELETE /projects/:id': withQuota(async (_req, { params }) => Response.json({ deleted: (await params).id }), options(remove)),
      };
      const send: Send = async (path, { method, user, headers, json }) => {
        const id = /^\/projects\/(.+)$/.exec(path)?.[1];
        const handler = routes[`${method} ${id ? '/projects/:id' : path}`]!;
        const request = new Request(`http://app.test${path}`, {
          method,
          headers: { 'x-user': user, ...(json === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
          body: json === undefined ? undefined : JSON.stringify(json),
        });
        try {
          return await handler(request, { params: Promise.resolve<Record<string, string>>(id ? { id } : {}) });
        } catch {
          // What Next answers for a handler that throws.
          return new Response('Internal Server Error', { status: 500 });
        }
      };
      return { send, close: async () => {} };
    },
  },
];

describe.each(adapters)('$name middleware', (adapter) => {
  const state = new AppState();
  let app: Awaited<ReturnType<Adapter['start']>>;
  beforeAll(async () => {
    app = await adapter.start(state);
  });
  afterAll(() => app?.close());

  const newSubject = async () => {
    const subject = await gw.createSubject();
    state.add(subject);
    return subject;
  };

  it('runs the handler exactly 50 times for 200 concurrent requests at 50 remaining', async () => {
    const subject = await newSubject();
    const responses = await Promise.all(Array.from({ length: 200 }, () => app.send('/generate', { method: 'POST', user: subject.id })));
    const statuses = responses.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(50);
    expect(statuses.filter((s) => s === 402)).toHaveLength(150);
    expect(state.runs.get(subject.id)).toBe(50);
    expect(await gw.used(subject, 'gens')).toBe(50);

    const denied = responses.find((r) => r.status === 402)!;
    expect(denied.headers.get('content-type')).toContain('application/problem+json');
    expect(denied.headers.get('ratelimit-policy')).toContain('"gens";q=50');
    expect(denied.headers.get('ratelimit')).toContain('"gens";r=0');
    expect(await denied.json()).toMatchObject({ code: 'quota_exceeded', metric: 'gens', limit: 50, used: 50, remaining: 0, requested: 1 });
    const allowed = responses.find((r) => r.status === 200)!;
    expect(allowed.headers.get('ratelimit')).toMatch(/"gens";r=\d+/);
    await Promise.all(responses.filter((r) => !r.bodyUsed).map((r) => r.body?.cancel()));
  });

  it('refunds the charge when the handler throws (a refund event in the ledger)', async () => {
    const subject = await newSubject();
    const res = await app.send('/generate', { method: 'POST', user: subject.id, headers: { 'x-fail': 'throw' } });
    expect(res.status).toBe(500);
    expect(await gw.used(subject, 'gens')).toBe(0);
    const events = await gw.events(subject);
    expect(events.map((e) => [e.kind, e.metric, e.delta])).toEqual([
      ['consume', 'gens', 1],
      ['refund', 'gens', -1],
    ]);
  });

  it('refunds the charge when the handler answers 5xx', async () => {
    const subject = await newSubject();
    const res = await app.send('/generate', { method: 'POST', user: subject.id, headers: { 'x-fail': '500' } });
    expect(res.status).toBe(500);
    expect(await gw.used(subject, 'gens')).toBe(0);
    expect((await gw.events(subject)).map((e) => e.kind)).toEqual(['consume', 'refund']);
  });

  it('charges a retried request (same Idempotency-Key) once and answers it with the first response', async () => {
    const subject = await newSubject();
    const headers = { 'idempotency-key': `order-${subject.id}` };
    const first = await app.send('/generate', { method: 'POST', user: subject.id, headers });
    expect(first.status).toBe(200);
    const body = await first.json();
    const retry = await app.send('/generate', { method: 'POST', user: subject.id, headers });
    expect(retry.status).toBe(200);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(await retry.json()).toEqual(body);
    expect(state.runs.get(subject.id)).toBe(1);
    expect(await gw.used(subject, 'gens')).toBe(1);

    // A failed request's key is free again: its retry runs and is charged (once).
    const failedKey = { 'idempotency-key': `failed-${subject.id}` };
    expect((await app.send('/generate', { method: 'POST', user: subject.id, headers: { ...failedKey, 'x-fail': '500' } })).status).toBe(500);
    expect((await app.send('/generate', { method: 'POST', user: subject.id, headers: failedKey })).status).toBe(200);
    expect(await gw.used(subject, 'gens')).toBe(2);
  });

  it('settles a reservation to what the handler reports', async () => {
    const subject = await newSubject();
    const res = await app.send('/complete', { method: 'POST', user: subject.id, json: { used: 37 } });
    expect(res.status).toBe(200);
    expect(await gw.used(subject, 'tokens')).toBe(37);
    expect((await gw.events(subject)).map((e) => [e.kind, e.delta])).toEqual([
      ['consume', 100],
      ['settle', -63],
    ]);
  });

  it('lowers a gauge after a delete route answers 2xx', async () => {
    const subject = await newSubject();
    const client = state.clientOf(subject.id);
    expect((await client.consume({ charges: [{ metric: 'projects', amount: 2 }] })).allowed).toBe(true);
    const res = await app.send('/projects/p1', { method: 'DELETE', user: subject.id });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ deleted: 'p1' });
    expect(await gw.used(subject, 'projects')).toBe(1);
  });
});

describe('a retry whose first response was not kept (issue 11.5)', () => {
  const begin = (client: QuotagateClient, key: string) => QuotaRun.begin({ client, charges: [{ metric: 'gens', amount: 20 }] }, {}, new Headers({ 'idempotency-key': key }));

  it('runs the handler again only as a new, charged request: of 5 concurrent retries one fits the plan, 4 are denied', async () => {
    const subject = await gw.createSubject();
    const client = new QuotagateClient({ baseUrl: gw.url, apiKey: subject.key, timeoutMs: 30_000 });
    const first = await begin(client, 'stream-1');
    if (!('run' in first)) throw new Error('the first request was not let through');
    // A streamed or binary response is not kept: the handler's answer has no text.
    await first.run.succeeded({ status: 200, headers: [], text: null });
    expect(await gw.used(subject, 'gens')).toBe(20);

    const retries = await Promise.all(Array.from({ length: 5 }, () => begin(client, 'stream-1')));
    const runs = retries.flatMap((b) => ('run' in b ? [b.run] : []));
    const answers = retries.flatMap((b) => ('answer' in b ? [b.answer.status] : []));
    expect(runs).toHaveLength(1);
    expect(runs[0]!.reservationId).not.toBeNull();
    expect(answers).toEqual([402, 402, 402, 402]);
    await runs[0]!.succeeded({ status: 200, headers: [], text: null });
    expect(await gw.used(subject, 'gens')).toBe(40);
  });

  it('charges a retry whose kept response cannot be read back as a new request, with its key not reused', async () => {
    const subject = await gw.createSubject();
    const client = new QuotagateClient({ baseUrl: gw.url, apiKey: subject.key, timeoutMs: 30_000 });
    // Settled by another writer with a response the middleware cannot replay.
    const reserved = await client.reserve({ charges: [{ metric: 'gens', amount: 20 }], idempotencyKey: 'foreign-1' });
    if (!reserved.allowed) throw new Error('not reserved');
    await client.settle(reserved.id, { response: 'not a stored response' });

    const retry = await begin(client, 'foreign-1');
    if (!('run' in retry)) throw new Error(`the retry was answered ${retry.answer.status}`);
    expect(retry.run.replayed).toBe(true);
    expect(retry.run.reservationId).not.toBe(reserved.id);
    await retry.run.succeeded({ status: 200, headers: [], text: '{"ok":true}' });
    expect(await gw.used(subject, 'gens')).toBe(40);
  });
});
