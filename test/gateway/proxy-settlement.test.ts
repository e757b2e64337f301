import { once } from 'node:events';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PolicyInput } from '../../src/config/policy.js';
import { gatewayTestPolicy, startGatewayFixture, type GatewayFixture, type TestSubject } from '../support/gateway.js';
import { requestSettled } from '../support/sse-client.js';

/** A loopback port nothing listens on: a server was started there and closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
  return port;
}

/** An upstream that answers every request with `answer` (raw HTTP) and hangs up. */
async function rawUpstream(answer: string): Promise<Server> {
  const server = createServer((socket) => {
    socket.once('data', () => socket.end(answer));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

/** Declares a small body, sends part of it and hangs up. */
const brokenUpstream = () => rawUpstream('HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"id":');
/** Answers with a status no HTTP client can be given. */
const oddStatusUpstream = () => rawUpstream('HTTP/1.1 600 Odd\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}');

/** The default test policy plus routes for the failure modes and a header-settled route. */
const settlementPolicy =
  (deadPort: number, brokenPort: number, oddPort: number) =>
  (upstream: string): PolicyInput => {
    const base = gatewayTestPolicy(upstream);
    return {
      ...base,
      routes: [
        ...base.routes!,
        // Same cost as export, but an upstream failure keeps the charge.
        {
          name: 'charged-export',
          match: { method: 'POST', path: '/v1/charged-exports' },
          upstream,
          charge: [{ metric: 'exports', amount: 1 }],
          on_upstream_error: 'charge',
          timeout_ms: 2_000,
        },
        // An upstream that refuses connections.
        {
          name: 'dead-export',
          match: { method: 'POST', path: '/v1/dead-exports' },
          upstream: `http://127.0.0.1:${deadPort}`,
          charge: [{ metric: 'exports', amount: 1 }],
          timeout_ms: 2_000,
        },
        // An upstream that breaks off a small response.
        {
          name: 'broken-export',
          match: { method: 'POST', path: '/v1/broken-exports' },
          upstream: `http://127.0.0.1:${brokenPort}`,
          charge: [{ metric: 'exports', amount: 1 }],
          timeout_ms: 2_000,
        },
        // An upstream whose status is out of HTTP's range, on a reserved route (a hold to end).
        {
          name: 'odd-metered',
          match: { method: 'POST', path: '/v1/odd-metered' },
          upstream: `http://127.0.0.1:${oddPort}`,
          charge: [{ metric: 'tokens', reserve: { from: 'body.max_tokens', default: 100 }, settle: { from: 'header.x-usage-tokens' } }],
          timeout_ms: 2_000,
        },
        // Reserved from the body, settled from the upstream's x-usage-tokens header.
        {
          name: 'metered',
          match: { method: 'POST', path: '/v1/metered' },
          upstream,
          charge: [{ metric: 'tokens', reserve: { from: 'body.max_tokens', default: 100 }, settle: { from: 'header.x-usage-tokens' } }],
          timeout_ms: 2_000,
        },
      ],
    };
  };

let gw: GatewayFixture;
let broken: Server;
let odd: Server;
beforeAll(async () => {
  broken = await brokenUpstream();
  odd = await oddStatusUpstream();
  const portOf = (server: Server) => (server.address() as AddressInfo).port;
  gw = await startGatewayFixture({ policy: settlementPolicy(await closedPort(), portOf(broken), portOf(odd)) });
});
afterAll(async () => {
  await gw?.close();
  broken?.close();
  odd?.close();
});

/** The demo's prompt-token count of a chat request: a quarter of the message characters, at least 1. */
const promptTokens = (messages: { content: string }[]) => Math.max(1, Math.ceil(messages.reduce((n, m) => n + m.content.length, 0) / 4));

const upstreamCalls = (path: string) => gw.upstream.requests.filter((r) => r.path === path).length;

async function exportAs(subject: TestSubject, path: string, headers: Record<string, string> = {}): Promise<{ response: Response; body: Record<string, unknown> }> {
  const response = await gw.request(path, { method: 'POST', key: subject.key, json: { format: 'csv' }, headers });
  const body = (await response.json()) as Record<string, unknown>;
  return { response, body };
}

/** The export was charged, then given back: usage at 0, a consume event and a refund event. */
async function expectRefunded(subject: TestSubject): Promise<void> {
  expect(await gw.used(subject, 'exports')).toBe(0);
  const kinds = (await gw.events(subject)).filter((e) => e.metric === 'exports').map((e) => [e.kind, e.delta]);
  expect(kinds).toEqual([
    ['consume', 1],
    ['refund', -1],
  ]);
}

describe('upstream failures', () => {
  it('passes an upstream 500 through, refunds the charge with a refund event and keeps the consume event', async () => {
    const subject = await gw.createSubject();
    const { response, body } = await exportAs(subject, '/v1/exports', { 'x-demo-status': '500' });
    // The upstream answered: its status and body reach the client unchanged.
    expect(response.status).toBe(500);
    expect(body).toEqual({ error: { message: 'demo failure', type: 'demo' } });
    await requestSettled(gw, subject, response);

    expect(await gw.used(subject, 'exports')).toBe(0);
    const events = (await gw.events(subject)).filter((e) => e.metric === 'exports');
    const requestId = response.headers.get('x-request-id')!;
    expect(events.map((e) => e.kind)).toEqual(['consume', 'refund']);
    const [consume, refund] = events;
    // Nothing else holds this request, so the unit was charged outright (no hold) and the refund names the request.
    expect(consume).toMatchObject({ id: `${requestId}:1`, delta: 1, value: 1 });
    expect(consume!.extra.hold).toBeUndefined();
    expect(refund).toMatchObject({ id: `${requestId}:r:1`, delta: -1, value: 0, extra: { request: requestId } });
    expect(refund!.context).toEqual(consume!.context);
  });

  it('charges a successful fixed-charge request outright: no hold is left to end, its refund record expires', async () => {
    const subject = await gw.createSubject();
    const { response } = await exportAs(subject, '/v1/exports');
    expect(response.status).toBe(202);
    await requestSettled(gw, subject, response);

    expect(await gw.used(subject, 'exports')).toBe(1);
    const requestId = response.headers.get('x-request-id')!;
    expect(await gw.redis.exists(gw.keys.hold(subject.id, requestId))).toBe(0);
    // Its refund record expires (kept for a refund on an upstream failure, and for a void of a reply that came too late).
    expect(await gw.redis.pttl(gw.keys.refund(subject.id, requestId))).toBeGreaterThan(0);
    expect((await gw.events(subject)).map((e) => e.kind)).toEqual(['consume']);
  });

  it('answers 504 upstream_timeout when the upstream does not answer within timeout_ms, and refunds', async () => {
    const subject = await gw.createSubject();
    const before = upstreamCalls('/v1/exports');
    const { response, body } = await exportAs(subject, '/v1/exports', { 'x-demo-delay-ms': '5000' });
    expect(response.status).toBe(504);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(body).toMatchObject({ status: 504, code: 'upstream_timeout' });
    expect(upstreamCalls('/v1/exports')).toBe(before + 1);
    await requestSettled(gw, subject, response);

    await expectRefunded(subject);
  });

  it('answers 502 upstream_error when the upstream cannot be reached, and refunds', async () => {
    const subject = await gw.createSubject();
    const { response, body } = await exportAs(subject, '/v1/dead-exports');
    expect(response.status).toBe(502);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(body).toMatchObject({ status: 502, code: 'upstream_error' });
    await requestSettled(gw, subject, response);

    await expectRefunded(subject);
  });

  it('answers 502 upstream_error to a status out of HTTP range, and returns the hold', async () => {
    const subject = await gw.createSubject();
    const response = await gw.request('/v1/odd-metered', { method: 'POST', key: subject.key, json: { max_tokens: 40 } });
    expect(response.status).toBe(502);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await response.json()).toMatchObject({ status: 502, code: 'upstream_error' });
    await requestSettled(gw, subject, response);

    expect(await gw.used(subject, 'tokens')).toBe(0);
    const kinds = (await gw.events(subject)).filter((e) => e.metric === 'tokens').map((e) => [e.kind, e.delta]);
    expect(kinds).toEqual([
      ['consume', 40],
      ['refund', -40],
    ]);
  });

  it('ends the charge as a failed request’s when the gateway itself fails after the decision: 500, refunded once', async () => {
    const subject = await gw.createSubject();
    // A fault of the gateway's own once the upstream has answered (the metrics of that answer fail).
    const histogram = gw.gateway.deps.metrics.upstreamSeconds;
    const observe = histogram.observe.bind(histogram);
    histogram.observe = () => {
      histogram.observe = observe;
      throw new Error('injected fault after the decision');
    };
    const { response, body } = await exportAs(subject, '/v1/exports');
    expect(response.status).toBe(500);
    expect(body).toMatchObject({ status: 500, code: 'internal_error' });
    expect(JSON.stringify(body)).not.toContain('injected fault');
    await requestSettled(gw, subject, response);

    await expectRefunded(subject);
  });

  it('refunds when the upstream breaks off a small response; the client gets the broken body as it came', async () => {
    const subject = await gw.createSubject();
    const response = await gw.request('/v1/broken-exports', { method: 'POST', key: subject.key, json: { format: 'csv' } });
    expect(response.status).toBe(202);
    await expect(response.text()).rejects.toThrow();
    await requestSettled(gw, subject, response);

    await expectRefunded(subject);
  });

  it('keeps the charge after an upstream 500 on an on_upstream_error: charge route', async () => {
    const subject = await gw.createSubject();
    const { response } = await exportAs(subject, '/v1/charged-exports', { 'x-demo-status': '500' });
    expect(response.status).toBe(500);
    await requestSettled(gw, subject, response);

    expect(await gw.used(subject, 'exports')).toBe(1);
    const kinds = (await gw.events(subject)).filter((e) => e.metric === 'exports').map((e) => e.kind);
    expect(kinds).toEqual(['consume']);
  });
});

describe('reserve, then settle', () => {
  it('settles a non-streamed chat from response.usage.total_tokens, not from max_tokens', async () => {
    const subject = await gw.createSubject();
    const messages = [{ role: 'user', content: 'Summarise the quarterly report, please.' }];
    const response = await gw.request('/v1/chat/completions', {
      method: 'POST',
      key: subject.key,
      json: { messages, max_tokens: 500 },
      headers: { 'x-demo-completion-tokens': '40' },
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number } };
    expect(body.usage.completion_tokens).toBe(40);
    expect(body.usage.prompt_tokens).toBe(promptTokens(messages));
    const total = body.usage.prompt_tokens + body.usage.completion_tokens;
    expect(body.usage.total_tokens).toBe(total);
    await requestSettled(gw, subject, response);

    expect(await gw.used(subject, 'tokens')).toBe(total);
    expect(await gw.used(subject, 'gens')).toBe(1);
    const tokens = (await gw.events(subject)).filter((e) => e.metric === 'tokens');
    expect(tokens.map((e) => e.kind)).toEqual(['consume', 'settle']);
    expect(tokens[0]).toMatchObject({ delta: 500, value: 500 });
    expect(tokens[1]).toMatchObject({ delta: total - 500, value: total, extra: { held: 500, actual: total } });
  });

  it('settles above the reservation: the overage is recorded and the next request is denied on tokens', async () => {
    const subject = await gw.createSubject();
    const messages = [{ role: 'user', content: 'Write a long story.' }];
    const response = await gw.request('/v1/chat/completions', {
      method: 'POST',
      key: subject.key,
      json: { messages, max_tokens: 10 },
      headers: { 'x-demo-completion-tokens': '2000' },
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { usage: { total_tokens: number } };
    const total = body.usage.total_tokens;
    expect(total).toBe(promptTokens(messages) + 2000);
    await requestSettled(gw, subject, response);

    // The work is done: the counter goes above the 1200 limit.
    expect(await gw.used(subject, 'tokens')).toBe(total);
    const settle = (await gw.events(subject)).find((e) => e.metric === 'tokens' && e.kind === 'settle');
    expect(settle).toMatchObject({ delta: total - 10, value: total, extra: { held: 10, actual: total, overage: total - 1200 } });

    const before = upstreamCalls('/v1/chat/completions');
    const next = await gw.request('/v1/chat/completions', { method: 'POST', key: subject.key, json: { messages, max_tokens: 1 } });
    expect(next.status).toBe(402);
    expect(await next.json()).toMatchObject({ code: 'quota_exceeded', metric: 'tokens', limit: 1200, used: total, remaining: 0 });
    await gw.settled();
    expect(upstreamCalls('/v1/chat/completions')).toBe(before);
    // The denial changed nothing.
    expect(await gw.used(subject, 'tokens')).toBe(total);
    expect(await gw.used(subject, 'gens')).toBe(1);
  });

  it('settles from a response header (header.x-usage-tokens)', async () => {
    const subject = await gw.createSubject();
    const response = await gw.request('/v1/metered', {
      method: 'POST',
      key: subject.key,
      json: { max_tokens: 50 },
      // x-demo-status: 200 makes the demo answer 200 on any path.
      headers: { 'x-demo-usage-header': '7', 'x-demo-status': '200' },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-usage-tokens')).toBe('7');
    await response.arrayBuffer();
    await requestSettled(gw, subject, response);

    expect(await gw.used(subject, 'tokens')).toBe(7);
    const tokens = (await gw.events(subject)).filter((e) => e.metric === 'tokens');
    expect(tokens.map((e) => [e.kind, e.delta, e.value])).toEqual([
      ['consume', 50, 50],
      ['settle', -43, 7],
    ]);
  });
});

describe('gauges', () => {
  const createProject = async (subject: TestSubject, name = 'p') => {
    const response = await gw.request('/v1/projects', { method: 'POST', key: subject.key, json: { name } });
    const body = (await response.json()) as Record<string, unknown>;
    return { response, body };
  };

  it('charges 1 on create, releases 1 on a successful delete, and nothing on a 404 delete', async () => {
    const subject = await gw.createSubject();
    const created = await createProject(subject, 'alpha');
    expect(created.response.status).toBe(201);
    await requestSettled(gw, subject, created.response);
    expect(await gw.used(subject, 'projects')).toBe(1);

    const second = await createProject(subject, 'beta');
    expect(second.response.status).toBe(201);
    await requestSettled(gw, subject, second.response);
    expect(await gw.used(subject, 'projects')).toBe(2);

    const deleted = await gw.request(`/v1/projects/${String(created.body.id)}`, { method: 'DELETE', key: subject.key });
    expect(deleted.status).toBe(204);
    await deleted.arrayBuffer();
    await gw.settled();
    expect(await gw.used(subject, 'projects')).toBe(1);

    const unknown = await gw.request('/v1/projects/proj_does_not_exist', { method: 'DELETE', key: subject.key });
    expect(unknown.status).toBe(404);
    await unknown.arrayBuffer();
    await gw.settled();
    expect(await gw.used(subject, 'projects')).toBe(1);

    // Deleting the same project again is a 404 too: released once only.
    const again = await gw.request(`/v1/projects/${String(created.body.id)}`, { method: 'DELETE', key: subject.key });
    expect(again.status).toBe(404);
    await again.arrayBuffer();
    await gw.settled();
    expect(await gw.used(subject, 'projects')).toBe(1);

    const releases = (await gw.events(subject)).filter((e) => e.metric === 'projects' && e.kind === 'release');
    expect(releases.map((e) => [e.delta, e.value])).toEqual([[-1, 1]]);
  });

  it('lets exactly 1 of 5 concurrent creates through at 4/5', async () => {
    const subject = await gw.createSubject();
    for (let i = 0; i < 4; i++) {
      const { response } = await createProject(subject, `p${i}`);
      expect(response.status).toBe(201);
      await requestSettled(gw, subject, response);
    }
    expect(await gw.used(subject, 'projects')).toBe(4);

    const before = upstreamCalls('/v1/projects');
    const results = await Promise.all(Array.from({ length: 5 }, (_, i) => createProject(subject, `c${i}`)));
    const statuses = results.map((r) => r.response.status).sort();
    expect(statuses).toEqual([201, 402, 402, 402, 402]);
    for (const r of results.filter((r) => r.response.status === 402)) {
      expect(r.body).toMatchObject({ code: 'quota_exceeded', metric: 'projects', limit: 5 });
    }
    await Promise.all(results.map((r) => requestSettled(gw, subject, r.response)));
    expect(upstreamCalls('/v1/projects')).toBe(before + 1);
    expect(await gw.used(subject, 'projects')).toBe(5);
  });
});
