import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGatewayFixture, type GatewayFixture } from '../support/gateway.js';
import { eventJson, eventually, requestSettled, SseReader } from '../support/sse-client.js';

let gw: GatewayFixture;
beforeAll(async () => {
  gw = await startGatewayFixture();
});
afterAll(() => gw?.close());

/** The demo's prompt-token count of a chat request: a quarter of the message characters, at least 1. */
const promptTokens = (messages: { content: string }[]) => Math.max(1, Math.ceil(messages.reduce((n, m) => n + m.content.length, 0) / 4));

const streamedChat = (key: string, gate: string, init: { maxTokens: number; completionTokens: number; messages: { role: string; content: string }[]; signal?: AbortSignal }) =>
  gw.request('/v1/chat/completions', {
    method: 'POST',
    key,
    json: { messages: init.messages, max_tokens: init.maxTokens, stream: true, stream_options: { include_usage: true } },
    headers: { 'x-demo-gate': gate, 'x-demo-completion-tokens': String(init.completionTokens), 'x-demo-chunk-delay-ms': '1' },
    signal: init.signal,
  });

describe('streamed (SSE) responses', () => {
  it('relays the first event while the upstream is still held, then settles to the final usage event', async () => {
    const subject = await gw.createSubject();
    const gate = `stream-${randomUUID()}`;
    const messages = [{ role: 'user', content: 'Tell me about streaming proxies.' }];
    const response = await streamedChat(subject.key, gate, { maxTokens: 500, completionTokens: 30, messages });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const sse = new SseReader(response.body!);

    // The upstream sends its first chunk, then waits at the gate: the event must reach us
    // now, not once the upstream's body is complete.
    const first = await sse.next();
    expect(first).not.toBeNull();
    const firstJson = eventJson(first!);
    expect(firstJson).toMatchObject({ object: 'chat.completion.chunk' });
    expect(firstJson!.usage).toBeUndefined();
    expect(sse.text).not.toContain('[DONE]');
    expect(sse.text).not.toContain('"usage"');
    // Mid-stream, the reservation from max_tokens is still held.
    expect(await gw.used(subject, 'tokens')).toBe(500);
    expect(await gw.redis.exists(gw.keys.hold(subject.id, response.headers.get('x-request-id')!))).toBe(1);

    gw.upstream.openGate(gate);
    const rest = await sse.rest();
    expect(rest.at(-1)?.data).toBe('[DONE]');
    const usageEvents = rest.map(eventJson).filter((e) => e?.usage !== undefined);
    expect(usageEvents).toHaveLength(1);
    const usage = usageEvents[0]!.usage as { prompt_tokens: number; completion_tokens: number; total_tokens: number };
    expect(usage.completion_tokens).toBe(30);
    expect(usage.total_tokens).toBe(promptTokens(messages) + 30);

    await requestSettled(gw, subject, response);
    expect(await gw.used(subject, 'tokens')).toBe(usage.total_tokens);
    expect(await gw.used(subject, 'gens')).toBe(1);
    const tokens = (await gw.events(subject)).filter((e) => e.metric === 'tokens');
    expect(tokens.map((e) => [e.kind, e.delta, e.value])).toEqual([
      ['consume', 500, 500],
      ['settle', usage.total_tokens - 500, usage.total_tokens],
    ]);
  });

  it('after a client abort mid-stream: drains to learn the usage, settles, ends the hold and frees the lease', async () => {
    const subject = await gw.createSubject({ plan: 'limited' });
    const gate = `abort-${randomUUID()}`;
    const messages = [{ role: 'user', content: 'A story that will not be read to the end.' }];
    const abort = new AbortController();
    const response = await streamedChat(subject.key, gate, { maxTokens: 400, completionTokens: 25, messages, signal: abort.signal });
    expect(response.status).toBe(200);
    const requestId = response.headers.get('x-request-id')!;
    const sse = new SseReader(response.body!);
    expect(await sse.next()).not.toBeNull();

    // Mid-stream: the reservation and one concurrency lease are held.
    expect(await gw.used(subject, 'tokens')).toBe(400);
    expect(await gw.redis.zcard(gw.keys.concurrency(subject.id))).toBe(1);

    abort.abort();
    await expect(sse.next()).rejects.toThrow();
    // The client is gone; the upstream goes on to the end once the gate opens.
    gw.upstream.openGate(gate);

    await requestSettled(gw, subject, response);
    expect(await gw.redis.exists(gw.keys.hold(subject.id, requestId))).toBe(0);
    // The route settles from the body, so the gateway read the rest: the actual usage counts.
    const total = promptTokens(messages) + 25;
    expect(await gw.used(subject, 'tokens')).toBe(total);
    const settle = (await gw.events(subject)).find((e) => e.metric === 'tokens' && e.kind === 'settle');
    expect(settle).toMatchObject({ delta: total - 400, value: total, extra: { hold: requestId, held: 400, actual: total } });
    expect(await gw.redis.zcard(gw.keys.concurrency(subject.id))).toBe(0);

    // Two requests at once fit the plan's concurrency of 2: no lease leaked.
    const next = await Promise.all([1, 2].map(() => gw.request('/v1/chat/completions', { method: 'POST', key: subject.key, json: { messages, max_tokens: 5 } })));
    const bodies = await Promise.all(next.map((r) => r.json() as Promise<Record<string, unknown>>));
    expect(next.map((r) => r.status)).toEqual([200, 200]);
    expect(bodies.every((b) => b.object === 'chat.completion')).toBe(true);
    await Promise.all(next.map((r) => requestSettled(gw, subject, r)));
    await eventually('leases to be freed', async () => (await gw.redis.zcard(gw.keys.concurrency(subject.id))) === 0);
  });
});
