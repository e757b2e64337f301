import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startDemoUpstream, type DemoUpstream } from './upstream.js';

let upstream: DemoUpstream;
beforeEach(async () => {
  upstream = await startDemoUpstream();
});
afterEach(() => upstream.close());

function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${upstream.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: body === undefined || typeof body === 'string' ? body : JSON.stringify(body),
  });
}

// Shapes are checked by the assertions themselves, so the parsed body is left untyped.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
const json = (res: Response): Promise<any> => res.json();

const chat = (body: unknown, headers?: Record<string, string>) => call('POST', '/v1/chat/completions', body, headers);
const hello = {
  model: 'demo-1',
  messages: [
    { role: 'user', content: 'hello' },
    { role: 'user', content: 'world!!' },
  ],
};

/** The `data:` payloads of a complete event stream. */
async function events(res: Response): Promise<string[]> {
  const text = await res.text();
  expect(text.endsWith('\n\n')).toBe(true);
  return text
    .split('\n\n')
    .filter((e) => e !== '')
    .map((e) => e.replace(/^data: /, ''));
}

const contentOf = (payloads: string[]) =>
  payloads
    .slice(0, -1)
    .flatMap((p) => JSON.parse(p).choices)
    .map((c: { delta: { content: string } }) => c.delta.content)
    .join('');

/** Reads a streamed body until one whole event has arrived; returns it and the reader. */
async function firstEvent(res: Response) {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let received = '';
  while (!received.includes('\n\n')) {
    const { value, done } = await reader.read();
    if (done) throw new Error('stream ended before the first event');
    received += decoder.decode(value, { stream: true });
  }
  return { received, reader, decoder };
}

describe('POST /v1/chat/completions', () => {
  it('answers an OpenAI-shaped completion with usage counted from the request', async () => {
    const res = await chat({ ...hello, max_tokens: 10 });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    const body = await json(res);
    expect(body).toMatchObject({
      object: 'chat.completion',
      model: 'demo-1',
      choices: [{ index: 0, message: { role: 'assistant' }, finish_reason: 'stop' }],
      // 12 chars of content → ceil(12 / 4) prompt tokens.
      usage: { prompt_tokens: 3, completion_tokens: 10, total_tokens: 13 },
    });
    expect(body.id).toMatch(/^chatcmpl-/);
    expect(body.created).toEqual(expect.any(Number));
    expect(body.choices[0].message.content.split(' ')).toHaveLength(10);
  });

  it('caps completion tokens at 64 and counts at least one prompt token', async () => {
    const empty = { messages: [{ role: 'user', content: '' }] };
    expect((await json(await chat(empty))).usage).toEqual({ prompt_tokens: 1, completion_tokens: 64, total_tokens: 65 });
    const big = await json(await chat({ ...empty, max_tokens: 1000 }));
    expect(big.usage.completion_tokens).toBe(64);
  });

  it('counts the text of content parts', async () => {
    const res = await chat({ messages: [{ role: 'user', content: [{ type: 'text', text: 'x'.repeat(9) }] }] });
    expect((await json(res)).usage.prompt_tokens).toBe(3);
  });

  it('reports exactly x-demo-completion-tokens, even above max_tokens', async () => {
    const res = await chat({ ...hello, max_tokens: 5 }, { 'x-demo-completion-tokens': '100' });
    const body = await json(res);
    expect(body.usage).toEqual({ prompt_tokens: 3, completion_tokens: 100, total_tokens: 103 });
    expect(body.choices[0].message.content.split(' ')).toHaveLength(100);
  });

  it.each([
    ['invalid JSON', '{"messages": ['],
    ['no messages', { model: 'demo-1' }],
    ['messages that are not an array', { messages: 'hi' }],
    ['a negative max_tokens', { ...hello, max_tokens: -1 }],
  ])('refuses %s with 400 invalid_request_error', async (_, body) => {
    const res = await chat(body);
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect((await json(res)).error).toEqual({ message: expect.any(String), type: 'invalid_request_error' });
  });

  it('streams about five content chunks and [DONE], without usage unless asked', async () => {
    const res = await chat({ ...hello, stream: true, max_tokens: 12 }, { 'x-demo-chunk-delay-ms': '0' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    const payloads = await events(res);
    expect(payloads).toHaveLength(6);
    expect(payloads.at(-1)).toBe('[DONE]');
    for (const p of payloads.slice(0, -1)) {
      expect(JSON.parse(p)).toMatchObject({ id: expect.stringMatching(/^chatcmpl-/), object: 'chat.completion.chunk' });
      expect(JSON.parse(p).usage).toBeUndefined();
    }
    const streamed = contentOf(payloads);
    const whole = (await json(await chat({ ...hello, max_tokens: 12 }))).choices[0].message.content;
    expect(streamed).toBe(whole);
  });

  it('ends with a usage chunk when stream_options.include_usage is set, and sends fewer chunks for fewer tokens', async () => {
    const res = await chat({ ...hello, stream: true, stream_options: { include_usage: true } }, { 'x-demo-completion-tokens': '2' });
    const payloads = await events(res);
    expect(payloads).toHaveLength(4);
    expect(contentOf(payloads.slice(0, 2).concat('[DONE]'))).toBe('lorem ipsum');
    expect(JSON.parse(payloads[2]!)).toMatchObject({
      object: 'chat.completion.chunk',
      choices: [],
      usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
    });
    expect(payloads[3]).toBe('[DONE]');
  });

  it('holds a stream after its first chunk until the x-demo-gate opens', async () => {
    const res = await chat({ ...hello, stream: true }, { 'x-demo-gate': 'g1', 'x-demo-chunk-delay-ms': '0' });
    const { received, reader, decoder } = await firstEvent(res);
    expect(received).toMatch(/^data: [^\n]+\n\n$/);
    // A whole other stream completes meanwhile, yet nothing more of this one arrives: the
    // client holds the first event while the upstream has not sent the last.
    await events(await chat({ ...hello, stream: true }, { 'x-demo-chunk-delay-ms': '0' }));
    const next = reader.read();
    const nothingYet = new Promise((resolve) => setImmediate(resolve, 'nothing yet'));
    expect(await Promise.race([next, nothingYet])).toBe('nothing yet');

    upstream.openGate('g1');
    let rest = '';
    for (let r = await next; !r.done; r = await reader.read()) rest += decoder.decode(r.value, { stream: true });
    expect(rest.split('\n\n')).toHaveLength(6); // four more content chunks, [DONE], and the trailing ''
    expect(rest.endsWith('data: [DONE]\n\n')).toBe(true);
  });

  it('lets a stream pass a gate opened before the request arrived', async () => {
    upstream.openGate('early');
    const payloads = await events(await chat({ ...hello, stream: true }, { 'x-demo-gate': 'early' }));
    expect(payloads.at(-1)).toBe('[DONE]');
  });

  it('survives a client that disconnects mid-stream', async () => {
    const res = await chat({ ...hello, stream: true }, { 'x-demo-gate': 'never' });
    const { reader } = await firstEvent(res);
    await reader.cancel();
    upstream.openGate('never');
    expect((await chat(hello)).status).toBe(200);
  });

  it('refuses a malformed x-demo-chunk-delay-ms', async () => {
    const res = await chat({ ...hello, stream: true }, { 'x-demo-chunk-delay-ms': 'soon' });
    expect(res.status).toBe(400);
    expect((await json(res)).error.message).toContain('x-demo-chunk-delay-ms');
  });
});

describe('exports and projects', () => {
  it('queues an export with 202', async () => {
    const res = await call('POST', '/v1/exports', {});
    expect(res.status).toBe(202);
    expect(await json(res)).toEqual({ id: expect.any(String), object: 'export', status: 'queued' });
  });

  it('creates, lists, reads and deletes projects', async () => {
    const created = await call('POST', '/v1/projects', { name: 'alpha' });
    expect(created.status).toBe(201);
    const alpha = await json(created);
    expect(alpha).toEqual({ id: expect.any(String), object: 'project', name: 'alpha' });
    const untitled = await json(await call('POST', '/v1/projects'));
    expect(untitled.name).toBe('untitled');

    expect(await json(await call('GET', '/v1/projects'))).toEqual({ object: 'list', data: [alpha, untitled] });
    expect(await json(await call('GET', `/v1/projects/${alpha.id}`))).toEqual(alpha);

    const deleted = await call('DELETE', `/v1/projects/${alpha.id}`);
    expect(deleted.status).toBe(204);
    expect(await deleted.text()).toBe('');
    expect((await call('DELETE', `/v1/projects/${alpha.id}`)).status).toBe(404);
    expect((await call('GET', `/v1/projects/${alpha.id}`)).status).toBe(404);
    expect((await json(await call('GET', '/v1/projects'))).data).toEqual([untitled]);
  });

  it('keeps a separate store per server', async () => {
    await call('POST', '/v1/projects', { name: 'mine' });
    const other = await startDemoUpstream();
    try {
      expect(await json(await fetch(`${other.url}/v1/projects`))).toEqual({ object: 'list', data: [] });
    } finally {
      await other.close();
    }
  });

  it.each([
    ['GET', '/nope'],
    ['GET', '/v1/chat/completions'],
    ['PUT', '/v1/projects'],
  ])('answers %s %s with 404', async (method, path) => {
    const res = await call(method, path);
    expect(res.status).toBe(404);
    expect(await json(res)).toEqual({ error: { message: 'not found', type: 'not_found' } });
  });
});

describe('controls', () => {
  it('records every request before answering it', async () => {
    await call('POST', '/v1/exports?format=csv', { a: 1 }, { 'X-Trace': 'abc' });
    await call('GET', '/nope');
    expect(upstream.requests).toEqual([
      {
        method: 'POST',
        path: '/v1/exports?format=csv',
        headers: expect.objectContaining({ 'x-trace': 'abc', 'content-type': 'application/json' }),
        body: '{"a":1}',
      },
      expect.objectContaining({ method: 'GET', path: '/nope', body: '' }),
    ]);
  });

  it('answers x-demo-status at once, on any path, after recording the body', async () => {
    const res = await chat(hello, { 'x-demo-status': '503' });
    expect(res.status).toBe(503);
    expect(await json(res)).toEqual({ error: { message: 'demo failure', type: 'demo' } });
    expect(upstream.requests[0]!.body).toBe(JSON.stringify(hello));
    expect((await call('GET', '/nope', undefined, { 'x-demo-status': '429' })).status).toBe(429);
  });

  it.each(['99', '600', 'abc'])('refuses x-demo-status: %s with 400', async (value) => {
    const res = await call('POST', '/v1/exports', {}, { 'x-demo-status': value });
    expect(res.status).toBe(400);
    expect((await json(res)).error.message).toContain('x-demo-status');
  });

  it('answers normally after x-demo-delay-ms', async () => {
    const res = await call('POST', '/v1/exports', {}, { 'x-demo-delay-ms': '20' });
    expect(res.status).toBe(202);
  });

  it('holds a long x-demo-delay-ms open until close(), which ends it', async () => {
    let settled = false;
    const pending = call('POST', '/v1/exports', {}, { 'x-demo-delay-ms': '3600000' }).finally(() => {
      settled = true;
    });
    await vi.waitFor(() => expect(upstream.requests).toHaveLength(1));
    expect(settled).toBe(false);
    await upstream.close();
    await expect(pending).rejects.toThrow();
    await upstream.close(); // idempotent
  });

  it('sets x-usage-tokens from x-demo-usage-header, on plain and streamed answers', async () => {
    const plain = await call('POST', '/v1/exports', {}, { 'x-demo-usage-header': '1234' });
    expect(plain.headers.get('x-usage-tokens')).toBe('1234');
    const streamed = await chat({ ...hello, stream: true }, { 'x-demo-usage-header': '77' });
    expect(streamed.headers.get('x-usage-tokens')).toBe('77');
    await streamed.text();
    expect((await call('POST', '/v1/exports', {})).headers.has('x-usage-tokens')).toBe(false);
  });
});
