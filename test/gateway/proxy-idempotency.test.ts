import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatewayTestPolicy, startGatewayFixture, type GatewayFixture, type TestSubject } from '../support/gateway.js';
import { eventJson, requestSettled, SseReader } from '../support/sse-client.js';

let gw: GatewayFixture;
beforeAll(async () => {
  gw = await startGatewayFixture();
});
afterAll(() => gw?.close());

/** Upstream requests that carried this Idempotency-Key. */
const reachedWith = (key: string) => gw.upstream.requests.filter((r) => r.headers['idempotency-key'] === key);

const chat = (subject: TestSubject, idempotencyKey: string, body: Record<string, unknown>, headers: Record<string, string> = {}) =>
  gw.request('/v1/chat/completions', {
    method: 'POST',
    key: subject.key,
    json: { messages: [{ role: 'user', content: 'Hello there, model.' }], ...body },
    headers: { 'idempotency-key': idempotencyKey, ...headers },
  });

describe('Idempotency-Key on proxied routes', () => {
  it('replays a repeated non-streamed request: same body, marked replayed, upstream called and charged once', async () => {
    const subject = await gw.createSubject();
    const key = `seq-${randomUUID()}`;
    const first = await chat(subject, key, { max_tokens: 200 }, { 'x-demo-completion-tokens': '20' });
    expect(first.status).toBe(200);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const firstBody = await first.text();
    await requestSettled(gw, subject, first);
    const tokens = await gw.used(subject, 'tokens');
    expect(await gw.used(subject, 'gens')).toBe(1);
    expect(tokens).toBe((JSON.parse(firstBody) as { usage: { total_tokens: number } }).usage.total_tokens);

    const second = await chat(subject, key, { max_tokens: 200 }, { 'x-demo-completion-tokens': '20' });
    expect(second.status).toBe(200);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(second.headers.get('content-type')).toBe(first.headers.get('content-type'));
    expect(await second.text()).toBe(firstBody);
    await gw.settled();

    expect(reachedWith(key)).toHaveLength(1);
    expect(await gw.used(subject, 'gens')).toBe(1);
    expect(await gw.used(subject, 'tokens')).toBe(tokens);
    const charges = (await gw.events(subject)).filter((e) => e.kind === 'consume');
    expect(charges.map((e) => e.metric).sort()).toEqual(['gens', 'tokens']);
  });

  it('lets exactly 1 of 50 concurrent requests with one key reach the upstream; the rest get 409 or a replay', async () => {
    const subject = await gw.createSubject();
    const key = `burst-${randomUUID()}`;
    const responses = await Promise.all(Array.from({ length: 50 }, () => chat(subject, key, { max_tokens: 30 })));
    const bodies = await Promise.all(responses.map((r) => r.text()));
    await Promise.all(responses.map((r) => requestSettled(gw, subject, r)));

    const original = responses.filter((r) => r.status === 200 && r.headers.get('idempotent-replayed') === null);
    const replays = responses.filter((r) => r.status === 200 && r.headers.get('idempotent-replayed') === 'true');
    const inFlight = responses.filter((r) => r.status === 409);
    expect(original).toHaveLength(1);
    expect(replays.length + inFlight.length).toBe(49);
    const originalBody = bodies[responses.indexOf(original[0]!)];
    for (const r of replays) expect(bodies[responses.indexOf(r)]).toBe(originalBody);
    for (const r of inFlight) {
      expect(r.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(JSON.parse(bodies[responses.indexOf(r)]!)).toMatchObject({ status: 409, code: 'idempotency_in_flight' });
    }

    expect(reachedWith(key)).toHaveLength(1);
    const total = (JSON.parse(originalBody!) as { usage: { total_tokens: number } }).usage.total_tokens;
    expect(await gw.used(subject, 'gens')).toBe(1);
    expect(await gw.used(subject, 'tokens')).toBe(total);
    expect((await gw.events(subject)).filter((e) => e.kind === 'consume')).toHaveLength(2);
  });

  it('answers 422 idempotency_mismatch to the same key with another body, charging nothing', async () => {
    const subject = await gw.createSubject();
    const key = `mismatch-${randomUUID()}`;
    const first = await chat(subject, key, { max_tokens: 40 });
    expect(first.status).toBe(200);
    await first.arrayBuffer();
    await requestSettled(gw, subject, first);
    const gens = await gw.used(subject, 'gens');
    const tokens = await gw.used(subject, 'tokens');
    const eventCount = (await gw.events(subject)).length;

    const other = await chat(subject, key, { max_tokens: 41 });
    expect(other.status).toBe(422);
    expect(other.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await other.json()).toMatchObject({ status: 422, code: 'idempotency_mismatch' });
    await gw.settled();

    expect(reachedWith(key)).toHaveLength(1);
    expect(await gw.used(subject, 'gens')).toBe(gens);
    expect(await gw.used(subject, 'tokens')).toBe(tokens);
    expect(await gw.events(subject)).toHaveLength(eventCount);
  });

  it('charges a retry of a streamed request (its body was not stored) as a new request: never forwarded free', async () => {
    const subject = await gw.createSubject();
    const key = `stream-${randomUUID()}`;
    const body = { max_tokens: 300, stream: true, stream_options: { include_usage: true } };
    const headers = { 'x-demo-completion-tokens': '12', 'x-demo-chunk-delay-ms': '1' };

    const readStream = async (response: Response) => {
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
      const events = await new SseReader(response.body!).rest();
      expect(events.at(-1)?.data).toBe('[DONE]');
      const usage = events.map(eventJson).find((e) => e?.usage !== undefined)?.usage as { total_tokens: number };
      return usage.total_tokens;
    };

    const first = await chat(subject, key, body, headers);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const total = await readStream(first);
    await requestSettled(gw, subject, first);
    expect(await gw.used(subject, 'tokens')).toBe(total);
    expect(await gw.used(subject, 'gens')).toBe(1);

    const retry = await chat(subject, key, body, headers);
    expect(retry.headers.get('idempotent-replayed')).toBeNull();
    expect(await readStream(retry)).toBe(total);
    await requestSettled(gw, subject, retry);

    expect(reachedWith(key)).toHaveLength(2);
    expect(await gw.used(subject, 'gens')).toBe(2);
    expect(await gw.used(subject, 'tokens')).toBe(2 * total);
    const events = await gw.events(subject);
    expect(events.map((e) => `${e.kind}:${e.metric}`)).toEqual(['consume:gens', 'consume:tokens', 'settle:tokens', 'consume:gens', 'consume:tokens', 'settle:tokens']);
    // The second charge names the key it replayed; the key's record still answers for the first request.
    expect(events[3]!.context).toMatchObject({ replay_of_key: key });
  });
});

describe('a replay never buys new upstream work (issue 11.5)', () => {
  let one: GatewayFixture;
  beforeAll(async () => {
    one = await startGatewayFixture({
      policy: (upstream) => {
        const base = gatewayTestPolicy(upstream);
        return { ...base, plans: { ...base.plans, one: { limits: { gens: 1, tokens: 100_000, exports: 1, projects: 1 }, concurrency: 1 } } };
      },
    });
  });
  afterAll(() => one?.close());

  it('a plan of 1 generation, concurrency 1: 5 concurrent replays of a streamed request are 409 while it runs and 402 once done; the upstream sees it once', async () => {
    const subject = await one.createSubject({ plan: 'one' });
    const key = `repro-${randomUUID()}`;
    const send = () =>
      one.request('/v1/chat/completions', {
        method: 'POST',
        key: subject.key,
        json: { messages: [{ role: 'user', content: 'Hi' }], max_tokens: 50, stream: true, stream_options: { include_usage: true } },
        headers: { 'idempotency-key': key, 'x-demo-completion-tokens': '20', 'x-demo-chunk-delay-ms': '20' },
      });
    const upstreamWithKey = () => one.upstream.requests.filter((r) => r.headers['idempotency-key'] === key).length;

    const first = await send();
    expect(first.status).toBe(200);
    const whileRunning = await Promise.all(Array.from({ length: 5 }, send));
    const running = await Promise.all(whileRunning.map(async (r) => ({ status: r.status, body: (await r.json()) as { code: string } })));
    expect(running).toEqual(Array.from({ length: 5 }, () => ({ status: 409, body: expect.objectContaining({ code: 'idempotency_in_flight' }) })));
    await new SseReader(first.body!).rest();
    await requestSettled(one, subject, first);

    const afterwards = await Promise.all(Array.from({ length: 5 }, send));
    const done = await Promise.all(afterwards.map(async (r) => ({ status: r.status, body: (await r.json()) as { code: string } })));
    expect(done).toEqual(Array.from({ length: 5 }, () => ({ status: 402, body: expect.objectContaining({ code: 'quota_exceeded' }) })));
    await one.settled();

    expect(upstreamWithKey()).toBe(1);
    expect(await one.used(subject, 'gens')).toBe(1);
    const consumes = (await one.events(subject)).filter((e) => e.kind === 'consume');
    expect(consumes.map((e) => e.metric)).toEqual(['gens', 'tokens']);
  });
});
