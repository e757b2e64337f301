import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI } from '@google/genai';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkerHandle } from '../../src/worker/worker.js';
import { startGatewayFixture, type GatewayFixture, type TestSubject } from '../support/gateway.js';
import { compareLedger, startTestWorker, waitForDrain } from '../support/ledger-checks.js';
import { expectedCredits, providerPolicy } from '../support/provider-policy.js';
import { databaseUrl } from '../support/services.js';

/**
 * The official OpenAI, Anthropic and Google clients pointed at the gateway, in front of the
 * demo upstream speaking each API: the tokens and credits settled are what the usage the
 * client itself received implies at the configured prices, to the unit, in Redis and in the
 * ledger after a flush.
 */

let gw: GatewayFixture;
let worker: WorkerHandle;
beforeAll(async () => {
  gw = await startGatewayFixture({ policy: providerPolicy });
  worker = await startTestWorker({ keys: gw.keys, redisUrl: gw.redisUrl, databaseUrl: databaseUrl(), policy: gw.policy });
});
afterAll(async () => {
  await worker?.close();
  await gw?.close();
});

const demo = (headers: Record<string, number | string>) => ({ headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [`x-demo-${k}`, String(v)])) });
const openai = (s: TestSubject) => new OpenAI({ apiKey: s.key, baseURL: `${gw.url}/v1`, maxRetries: 0 });
const anthropic = (s: TestSubject) => new Anthropic({ apiKey: s.key, baseURL: gw.url, maxRetries: 0 });
const google = (s: TestSubject, headers: Record<string, string> = {}) => new GoogleGenAI({ apiKey: s.key, httpOptions: { baseUrl: gw.url, headers } });

/** Usage in Redis, then in the ledger once the worker has flushed it (ledger == usage_counters == Redis). */
async function expectSettled(subject: TestSubject, expected: Record<string, number>): Promise<void> {
  await gw.settled();
  for (const [metric, amount] of Object.entries(expected)) expect(await gw.used(subject, metric), metric).toBe(amount);
  await waitForDrain(gw.redis, gw.keys);
  const { rows, mismatches } = await compareLedger(gw.pool, gw.redis, gw.keys, [subject.id]);
  expect(mismatches).toEqual([]);
  for (const [metric, amount] of Object.entries(expected)) expect(rows.find((r) => r.metric === metric)?.ledger ?? 0, `ledger ${metric}`).toBe(amount);
}

/** No credential of the gateway went upstream. */
function expectNoCredentialForwarded(): void {
  for (const r of gw.upstream.requests) {
    expect(r.headers.authorization).toBeUndefined();
    expect(r.headers['x-api-key']).toBeUndefined();
    expect(r.headers['x-goog-api-key']).toBeUndefined();
  }
}

describe('OpenAI Chat Completions (openai client)', () => {
  it('JSON: tokens = total_tokens, credits = cached and reasoning tokens at their prices', async () => {
    const subject = await gw.createSubject();
    const completion = await openai(subject).chat.completions.create(
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Count the tokens of this sentence, please.' }], max_tokens: 300 },
      demo({ 'completion-tokens': 37, 'cached-tokens': 5, 'reasoning-tokens': 11, 'served-model': 'gpt-4o-mini-2024-07-18' }),
    );
    const u = completion.usage!;
    expect(u.prompt_tokens_details?.cached_tokens).toBe(5);
    expect(u.completion_tokens).toBe(48);
    const credits = expectedCredits('gpt-4o-mini*', { input: u.prompt_tokens - 5, cached: 5, output: u.completion_tokens });
    await expectSettled(subject, { tokens: u.total_tokens, credits });
    expectNoCredentialForwarded();
  });

  it('streamed with include_usage: the client gets the usage chunk, and the charge is that usage', async () => {
    const subject = await gw.createSubject();
    const stream = await openai(subject).chat.completions.create(
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Stream me a few words.' }], max_tokens: 500, stream: true, stream_options: { include_usage: true } },
      demo({ 'completion-tokens': 23, 'chunk-delay-ms': 1 }),
    );
    let usage: OpenAI.CompletionUsage | undefined;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(chunks).toBeGreaterThan(2);
    expect(usage).toBeDefined();
    await expectSettled(subject, { tokens: usage!.total_tokens, credits: expectedCredits('gpt-4o-mini*', { input: usage!.prompt_tokens, output: usage!.completion_tokens }) });
  });

  it('streamed WITHOUT include_usage: the gateway asks for usage, settles from it, and the client never sees the extra chunk', async () => {
    const subject = await gw.createSubject();
    const content = 'No usage was asked for by this client.';
    const before = gw.upstream.requests.length;
    const stream = await openai(subject).chat.completions.create(
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content }], max_tokens: 900, stream: true },
      demo({ 'completion-tokens': 19, 'chunk-delay-ms': 1 }),
    );
    const seen: OpenAI.ChatCompletionChunk[] = [];
    for await (const chunk of stream) seen.push(chunk);
    expect(seen.length).toBeGreaterThan(1);
    expect(seen.every((c) => c.choices.length > 0 && !c.usage)).toBe(true);
    expect(
      seen
        .map((c) => c.choices[0]!.delta.content ?? '')
        .join('')
        .split(' '),
    ).toHaveLength(19);
    // What went upstream asked for it; what the client sent did not.
    const sent = JSON.parse(gw.upstream.requests[before]!.body) as { stream_options?: { include_usage?: boolean }; messages: unknown };
    expect(sent.stream_options).toEqual({ include_usage: true });
    expect(sent.messages).toEqual([{ role: 'user', content }]);
    // The demo counts a quarter of the characters as prompt tokens: the charge is real usage, not the 900 reserved.
    const prompt = Math.ceil(content.length / 4);
    await expectSettled(subject, { tokens: prompt + 19, credits: expectedCredits('gpt-4o-mini*', { input: prompt, output: 19 }) });
  });

  it('an alias prices as its target', async () => {
    const subject = await gw.createSubject();
    const completion = await openai(subject).chat.completions.create(
      { model: 'house-model', messages: [{ role: 'user', content: 'alias' }], max_tokens: 50 },
      demo({ 'completion-tokens': 40 }),
    );
    const u = completion.usage!;
    await expectSettled(subject, { tokens: u.total_tokens, credits: expectedCredits('gpt-4o-mini*', { input: u.prompt_tokens, output: u.completion_tokens }) });
  });
});

describe('bad input', () => {
  it('a limit field that is not a whole number → 400 problem+json naming it, nothing charged, nothing forwarded', async () => {
    const subject = await gw.createSubject();
    const before = gw.upstream.requests.length;
    for (const [path, json, field] of [
      ['/v1/chat/completions', { model: 'gpt-4o-mini', messages: [], max_completion_tokens: 'lots' }, 'body.max_completion_tokens | body.max_tokens'],
      ['/v1/responses', { model: 'o4-mini', input: 'x', max_output_tokens: -5 }, 'body.max_output_tokens'],
      ['/v1/messages', { model: 'claude-sonnet-4', messages: [], max_tokens: 1.5 }, 'body.max_tokens'],
      ['/v1beta/models/gemini-2.5-flash:generateContent', { contents: [], generationConfig: { maxOutputTokens: '9' } }, 'body.generationConfig.maxOutputTokens'],
    ] as const) {
      const response = await gw.request(path, { method: 'POST', key: subject.key, json });
      expect(response.status, path).toBe(400);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(((await response.json()) as { field: string }).field).toBe(field);
    }
    expect(gw.upstream.requests.length).toBe(before);
    expect(await gw.events(subject)).toEqual([]);
  });

  it('unknown_model: deny → 400 naming model for a model without a price (the official client sees a BadRequestError), nothing charged', async () => {
    const subject = await gw.createSubject();
    const before = gw.upstream.requests.length;
    const error = await openai(subject)
      .responses.create({ model: 'llama-3-70b', input: 'hello' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    const raw = await gw.request('/v1/responses', { method: 'POST', key: subject.key, json: { model: 'llama-3-70b', input: 'hello' } });
    expect(raw.status).toBe(400);
    expect(await raw.json()).toMatchObject({ field: 'model', detail: 'model "llama-3-70b" has no price on this route' });
    expect(gw.upstream.requests.length).toBe(before);
    expect(await gw.events(subject)).toEqual([]);
  });
});

describe('OpenAI Responses (openai client)', () => {
  it('JSON and streamed (response.completed): tokens and credits from usage, reasoning at the output price', async () => {
    const subject = await gw.createSubject();
    const client = openai(subject);
    const response = await client.responses.create(
      { model: 'o4-mini', input: 'Think hard about metering, then answer briefly.', max_output_tokens: 2000 },
      demo({ 'completion-tokens': 30, 'reasoning-tokens': 200, 'cached-tokens': 4 }),
    );
    const a = response.usage!;
    expect(a.output_tokens_details.reasoning_tokens).toBe(200);
    const stream = await client.responses.create(
      { model: 'o4-mini', input: [{ role: 'user', content: 'Stream a short answer.' }], max_output_tokens: 1000, stream: true },
      demo({ 'completion-tokens': 12, 'chunk-delay-ms': 1 }),
    );
    let b: OpenAI.Responses.ResponseUsage | undefined;
    let deltas = 0;
    for await (const event of stream) {
      if (event.type === 'response.output_text.delta') deltas++;
      if (event.type === 'response.completed') b = event.response.usage;
    }
    expect(deltas).toBeGreaterThan(1);
    const credits =
      expectedCredits('o4-mini*', { input: a.input_tokens - 4, cached: 4, output: a.output_tokens }) +
      expectedCredits('o4-mini*', { input: b!.input_tokens, output: b!.output_tokens });
    await expectSettled(subject, { tokens: a.total_tokens + b!.total_tokens, credits });
  });
});

describe('Anthropic Messages (@anthropic-ai/sdk)', () => {
  it('JSON: cache reads and writes at their prices, tokens = every class', async () => {
    const subject = await gw.createSubject();
    const message = await anthropic(subject).messages.create(
      { model: 'claude-sonnet-4-20250514', max_tokens: 400, messages: [{ role: 'user', content: 'A long cached system prompt is implied here.' }] },
      demo({ 'completion-tokens': 21, 'cached-tokens': 6, 'cache-write-tokens': 40 }),
    );
    const u = message.usage;
    expect(u.cache_read_input_tokens).toBe(6);
    const total = u.input_tokens + u.cache_read_input_tokens! + u.cache_creation_input_tokens! + u.output_tokens;
    const credits = expectedCredits('claude-sonnet-4*', { input: u.input_tokens, cached: 6, cacheWrite: 40, output: u.output_tokens });
    await expectSettled(subject, { tokens: total, credits, standard_tokens: total, premium_tokens: 0 });
  });

  it('streamed: input from message_start, output from message_delta (cumulative, not added to message_start’s)', async () => {
    const subject = await gw.createSubject();
    const stream = await anthropic(subject).messages.create(
      { model: 'claude-sonnet-4-20250514', max_tokens: 800, messages: [{ role: 'user', content: 'Stream, please.' }], stream: true },
      demo({ 'completion-tokens': 17, 'chunk-delay-ms': 1 }),
    );
    let input = 0;
    let output = 0;
    for await (const event of stream) {
      if (event.type === 'message_start') input = event.message.usage.input_tokens;
      if (event.type === 'message_delta') output = event.usage.output_tokens;
    }
    expect(output).toBe(17);
    await expectSettled(subject, { tokens: input + output, credits: expectedCredits('claude-sonnet-4*', { input, output }), standard_tokens: input + output });
  });

  it('a stream that ends before any message_delta keeps the reservation: limit field + body bytes / 4, at the dearest prices', async () => {
    const subject = await gw.createSubject();
    const before = gw.upstream.requests.length;
    const stream = await anthropic(subject).messages.create(
      { model: 'claude-sonnet-4-20250514', max_tokens: 700, messages: [{ role: 'user', content: 'This answer will be cut short.' }], stream: true },
      demo({ 'completion-tokens': 40, 'end-early': 'true' }),
    );
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    expect(types).toContain('message_start');
    expect(types).not.toContain('message_delta');
    const input = Math.ceil(Buffer.byteLength(gw.upstream.requests[before]!.body) / 4);
    // Reserved input is priced at the dearest input class (cache writes), output at the output price.
    const credits = Math.ceil((input * 3_750_000 + 700 * 15_000_000) / 1_000_000);
    await expectSettled(subject, { tokens: input + 700, credits, standard_tokens: input + 700 });
  });

  it('fallback: premium asked, standard served → premium given back, standard and its price charged (one settle)', async () => {
    const subject = await gw.createSubject();
    const message = await anthropic(subject).messages.create(
      { model: 'claude-opus-4-1', max_tokens: 1000, messages: [{ role: 'user', content: 'Premium, please.' }] },
      demo({ 'completion-tokens': 33, 'served-model': 'claude-3-5-haiku-20241022' }),
    );
    expect(message.model).toBe('claude-3-5-haiku-20241022');
    const total = message.usage.input_tokens + message.usage.output_tokens;
    await expectSettled(subject, {
      premium_tokens: 0,
      standard_tokens: total,
      tokens: total,
      credits: expectedCredits('claude-3-5-haiku*', { input: message.usage.input_tokens, output: message.usage.output_tokens }),
    });
    // The premium hold was taken, then released by the settle that charged standard (the ledger, in order).
    const { rows } = await gw.pool.query<{ kind: string; metric: string; delta: string; event_id: string }>(
      `SELECT kind, metric, delta, event_id FROM usage_events WHERE subject_id = $1 AND metric IN ('premium_tokens', 'standard_tokens') ORDER BY occurred_at, event_id`,
      [subject.id],
    );
    const held = Number(rows[0]?.delta);
    expect(held).toBeGreaterThan(0);
    expect(rows.map((r) => [r.kind, r.metric, Number(r.delta)])).toEqual([
      ['consume', 'premium_tokens', held],
      ['settle', 'premium_tokens', -held],
      ['settle', 'standard_tokens', total],
    ]);
    // Both settle events come from the one settle script run (one event id base).
    expect(rows[1]!.event_id.replace(/:\d+$/, '')).toBe(rows[2]!.event_id.replace(/:\d+$/, ''));
  });

  it('premium asked and served: premium charged, standard untouched', async () => {
    const subject = await gw.createSubject();
    const message = await anthropic(subject).messages.create(
      { model: 'claude-opus-4-1', max_tokens: 1000, messages: [{ role: 'user', content: 'Premium, please.' }] },
      demo({ 'completion-tokens': 9, 'served-model': 'claude-opus-4-1-20250805' }),
    );
    const total = message.usage.input_tokens + message.usage.output_tokens;
    await expectSettled(subject, {
      premium_tokens: total,
      standard_tokens: 0,
      tokens: total,
      credits: expectedCredits('claude-opus-4*', { input: message.usage.input_tokens, output: 9 }),
    });
  });
});

describe('Google Gemini (@google/genai)', () => {
  it('JSON and streamed (alt=sse, every chunk repeats usageMetadata): thinking counted as output', async () => {
    const subject = await gw.createSubject();
    const json = await google(subject, demo({ 'completion-tokens': 14, 'reasoning-tokens': 50, 'cached-tokens': 3 }).headers).models.generateContent({
      model: 'gemini-2.5-flash',
      contents: 'Explain metering in a sentence or two.',
      config: { maxOutputTokens: 300 },
    });
    const a = json.usageMetadata!;
    expect(a.thoughtsTokenCount).toBe(50);
    const stream = await google(subject, demo({ 'completion-tokens': 26, 'reasoning-tokens': 7, 'chunk-delay-ms': 1 }).headers).models.generateContentStream({
      model: 'gemini-2.5-flash',
      contents: [{ role: 'user', parts: [{ text: 'Stream it.' }] }],
      config: { maxOutputTokens: 400 },
    });
    let b: typeof a | undefined;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      b = chunk.usageMetadata;
    }
    expect(chunks).toBeGreaterThan(1);
    const credits =
      expectedCredits('gemini-2.5-flash*', { input: a.promptTokenCount! - 3, cached: 3, output: a.candidatesTokenCount! + a.thoughtsTokenCount! }) +
      expectedCredits('gemini-2.5-flash*', { input: b!.promptTokenCount!, output: b!.candidatesTokenCount! + b!.thoughtsTokenCount! });
    await expectSettled(subject, { tokens: a.totalTokenCount! + b!.totalTokenCount!, credits });
    expectNoCredentialForwarded();
  });
});
