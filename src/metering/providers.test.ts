import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ResponseTap } from '../proxy/response-tap.js';
import { SseParser } from '../proxy/sse-parser.js';
import { PROVIDERS, type ProviderName } from './providers.js';
import { measureTokens, type MeteredUsage } from './token-usage.js';

/**
 * The usage readers over golden responses shaped as each provider's API reference shows them
 * (test/fixtures/providers), fed through the response tap in small chunks as a proxied body
 * arrives, so events and JSON split anywhere.
 */

const fixture = (path: string) => readFileSync(fileURLToPath(new URL(`../../test/fixtures/providers/${path}`, import.meta.url)));

/** `body` cut every `cut` bytes, or (`{ events }`) after every `events` whole events, as an upstream flushing event by event delivers it. */
function chunksOf(body: Buffer, cut: number | { events: number }): Buffer[] {
  if (typeof cut === 'number') return Array.from({ length: Math.ceil(body.byteLength / cut) }, (_, i) => body.subarray(i * cut, (i + 1) * cut));
  const ends = [...body.toString('latin1').matchAll(/\r\n\r\n|\n\n/g)].map((m) => m.index + m[0].length).filter((_, i, all) => (i + 1) % cut.events === 0 || i === all.length - 1);
  return [0, ...ends].map((start, i) => body.subarray(start, ends[i] ?? body.byteLength)).filter((c) => c.byteLength > 0);
}

/** `lineEnds: 'crlf'` sends the fixture with "\r\n" line ends, as some servers (Google's) do. */
function read(provider: ProviderName, path: string, cut: number | { events: number } = 7, lineEnds: 'lf' | 'crlf' = 'lf'): MeteredUsage | undefined {
  const contentType = path.endsWith('.sse') ? 'text/event-stream' : 'application/json';
  const tap = new ResponseTap({ settle: [], reader: PROVIDERS[provider].reader(), headers: { 'content-type': contentType }, recordLimit: 0, jsonLimit: 1 << 20 });
  const body = lineEnds === 'crlf' ? Buffer.from(fixture(path).toString('utf8').replaceAll('\n', '\r\n')) : fixture(path);
  for (const chunk of chunksOf(body, cut)) tap.write(chunk);
  tap.end();
  return tap.usage();
}

const tokens = (input: number, cached_input: number, cache_write: number, output: number, reasoning: number) => ({ input, cached_input, cache_write, output, reasoning });

describe('usage readers: token classes from each provider’s usage fields', () => {
  it('OpenAI chat: cached tokens out of the prompt, reasoning out of the completion', () => {
    const usage = read('openai_chat', 'openai-chat/completion.json');
    expect(usage).toEqual({ model: 'gpt-4o-2024-08-06', tokens: tokens(93, 1024, 0, 34, 12) });
    expect(measureTokens(usage!.tokens, 'total')).toBe(1163);
    expect(measureTokens(usage!.tokens, 'input')).toBe(1117);
    expect(measureTokens(usage!.tokens, 'output')).toBe(46);
  });

  it('OpenAI chat stream: the usage-only final chunk (empty choices), not the chunks with usage null', () => {
    expect(read('openai_chat', 'openai-chat/stream-include-usage.sse')).toEqual({ model: 'gpt-4o-mini-2024-07-18', tokens: tokens(9, 0, 0, 2, 0) });
    for (const size of [1, 3, 64, 4096]) expect(read('openai_chat', 'openai-chat/stream-include-usage.sse', size)?.tokens).toEqual(tokens(9, 0, 0, 2, 0));
  });

  it('OpenAI chat stream without include_usage: no usage (the reservation stands)', () => {
    expect(read('openai_chat', 'openai-chat/stream-without-usage.sse')).toBeUndefined();
  });

  it('OpenAI Responses: the response object, and response.completed in a stream', () => {
    const usage = read('openai_responses', 'openai-responses/response.json');
    expect(usage).toEqual({ model: 'o4-mini-2025-04-16', tokens: tokens(200, 128, 0, 84, 768) });
    expect(measureTokens(usage!.tokens, 'total')).toBe(1180);
    expect(read('openai_responses', 'openai-responses/stream.sse')).toEqual({ model: 'gpt-4.1-2025-04-14', tokens: tokens(37, 0, 0, 11, 0) });
    expect(read('openai_responses', 'openai-responses/stream-interrupted.sse')).toBeUndefined();
  });

  it('Anthropic: cache reads and writes beside the input', () => {
    const usage = read('anthropic', 'anthropic/message.json');
    expect(usage).toEqual({ model: 'claude-sonnet-4-20250514', tokens: tokens(2095, 4102, 2051, 503, 0) });
    expect(measureTokens(usage!.tokens, 'total')).toBe(2095 + 4102 + 2051 + 503);
  });

  it('Anthropic stream: input from message_start, output from the LAST cumulative message_delta (never summed)', () => {
    expect(read('anthropic', 'anthropic/stream.sse')).toEqual({ model: 'claude-sonnet-4-20250514', tokens: tokens(25, 10, 0, 15, 0) });
  });

  it('Anthropic stream broken off before any message_delta: no usage (message_start’s output is a placeholder)', () => {
    expect(read('anthropic', 'anthropic/stream-interrupted.sse')).toBeUndefined();
  });

  it('Gemini: cached content out of the prompt, thinking counted as output', () => {
    const usage = read('gemini', 'gemini/generate-content.json');
    expect(usage).toEqual({ model: 'gemini-2.5-flash', tokens: tokens(200, 1000, 0, 10, 500) });
    expect(measureTokens(usage!.tokens, 'total')).toBe(1710);
    expect(measureTokens(usage!.tokens, 'output')).toBe(510);
  });

  it('Gemini stream: every chunk repeats usageMetadata, the last (with its finish reason) counts', () => {
    const usage = read('gemini', 'gemini/stream.sse');
    expect(usage).toEqual({ model: 'gemini-2.0-flash', tokens: tokens(8, 0, 0, 9, 22) });
    expect(measureTokens(usage!.tokens, 'total')).toBe(39);
    expect(read('gemini', 'gemini/stream-interrupted.sse')).toBeUndefined();
  });

  it('a whole JSON body is final even without a stream’s end marker (a Gemini answer with no finish reason)', () => {
    const reader = PROVIDERS.gemini.reader();
    const body = { candidates: [{ content: { parts: [{ text: 'x' }] } }], usageMetadata: { promptTokenCount: 5, candidatesTokenCount: 2 } };
    reader.read(body, false);
    expect(reader.usage()).toBeUndefined();
    reader.read(body, true);
    expect(reader.usage()?.tokens).toEqual(tokens(5, 0, 0, 2, 0));
  });

  it('skips only stream events the reader would not use (its cheap text test before parsing)', () => {
    // Gemini repeats usageMetadata in every chunk: all of them are read.
    const streams: [ProviderName, string, { skips: boolean }][] = [
      ['openai_chat', 'openai-chat/stream-include-usage.sse', { skips: true }],
      ['openai_responses', 'openai-responses/stream.sse', { skips: true }],
      ['anthropic', 'anthropic/stream.sse', { skips: true }],
      ['gemini', 'gemini/stream.sse', { skips: false }],
    ];
    for (const [provider, path, { skips }] of streams) {
      const events: string[] = [];
      const parser = new SseParser((data) => events.push(data));
      parser.write(fixture(path));
      parser.end();
      // The same reader fed every event, parsed: the tap (which parses only what passes the test) must read the same.
      const everyEvent = PROVIDERS[provider].reader();
      for (const data of events.filter((d) => d.startsWith('{'))) everyEvent.read(JSON.parse(data), false);
      expect(
        events.some((d) => d.startsWith('{') && !PROVIDERS[provider].reader().marker.in(d)),
        `${path} has events to skip`,
      ).toBe(skips);
      expect(everyEvent.usage(), path).toBeDefined();
      // Cut anywhere, or into runs of whole events (where the tap decodes only the events whose bytes may carry usage).
      for (const cut of [7, 1, { events: 1 }, { events: 2 }, { events: 3 }, 1 << 20]) {
        for (const lineEnds of ['lf', 'crlf'] as const) {
          expect(read(provider, path, cut, lineEnds), `${path} cut ${JSON.stringify(cut)}, ${lineEnds}`).toEqual(everyEvent.usage());
        }
      }
    }
  });

  it('ignores malformed counts instead of charging them', () => {
    const reader = PROVIDERS.openai_chat.reader();
    reader.read({ model: 'm', usage: { prompt_tokens: -3, completion_tokens: 1.5 } }, true);
    expect(reader.usage()).toEqual({ model: 'm', tokens: tokens(0, 0, 0, 0, 0) });
  });
});

describe('request side: output limit fields and the requested model', () => {
  it('reads each provider’s limit field and model', () => {
    const at = (json: unknown, path = '/v1/x') => ({ json, path });
    expect(PROVIDERS.openai_chat.outputLimit(at({ max_tokens: 10 }))).toBe(10);
    expect(PROVIDERS.openai_chat.outputLimit(at({ max_tokens: 10, max_completion_tokens: 20 }))).toBe(20);
    expect(PROVIDERS.openai_responses.outputLimit(at({ max_output_tokens: 30 }))).toBe(30);
    expect(PROVIDERS.anthropic.outputLimit(at({ max_tokens: 40 }))).toBe(40);
    expect(PROVIDERS.gemini.outputLimit(at({ generationConfig: { maxOutputTokens: 50 } }))).toBe(50);
    expect(PROVIDERS.anthropic.requestedModel(at({ model: 'claude-x' }))).toBe('claude-x');
    expect(PROVIDERS.gemini.requestedModel(at({}, '/v1beta/models/gemini-2.5-flash:streamGenerateContent'))).toBe('gemini-2.5-flash');
  });
});
