import { describe, expect, it } from 'vitest';
import { PROVIDERS } from '../metering/providers.js';
import { ResponseTap } from './response-tap.js';

const enc = (s: string) => new TextEncoder().encode(s);
const settle = [{ metric: 'tokens', from: 'response.usage.total_tokens' }];

describe('ResponseTap', () => {
  it('reads usage from a JSON body split over chunks, and records it', () => {
    const tap = new ResponseTap({ settle, headers: { 'content-type': 'application/json' }, recordLimit: 1024, jsonLimit: 1024 });
    for (const part of ['{"usage":{"total_', 'tokens":321}}']) tap.write(enc(part));
    tap.end();
    expect(tap.actuals()).toEqual({ tokens: 321 });
    expect(tap.recorded()?.toString()).toBe('{"usage":{"total_tokens":321}}');
  });

  it('reads usage from the last SSE event that carries it and never records a stream', () => {
    const tap = new ResponseTap({ settle, headers: { 'content-type': 'text/event-stream' }, recordLimit: 1024, jsonLimit: 1024 });
    tap.write(enc('data: {"choices":[{"delta":{"content":"hi"}}]}\n\n'));
    tap.write(enc('data: {"usage":{"total_tokens":12}}\n\ndata: {"usage":{"total_tokens":17}}\n\ndata: [DONE]\n\n'));
    tap.end();
    expect(tap.actuals()).toEqual({ tokens: 17 });
    expect(tap.recorded()).toBeNull();
  });

  it('reads usage from a header', () => {
    const tap = new ResponseTap({ settle: [{ metric: 'tokens', from: 'header.x-usage-tokens' }], headers: { 'x-usage-tokens': '99' }, recordLimit: 0, jsonLimit: 0 });
    expect(tap.actuals()).toEqual({ tokens: 99 });
  });

  it('finds nothing in a body without usage, a body too large, or a negative amount', () => {
    for (const body of ['{"error":"x"}', 'not json', '{"usage":{"total_tokens":-5}}']) {
      const tap = new ResponseTap({ settle, headers: { 'content-type': 'application/json' }, recordLimit: 0, jsonLimit: 1024 });
      tap.write(enc(body));
      tap.end();
      expect(tap.actuals()).toEqual({});
    }
    const tap = new ResponseTap({ settle, headers: {}, recordLimit: 4, jsonLimit: 8 });
    tap.write(enc('{"usage":{"total_tokens":1}}'));
    tap.end();
    expect(tap.actuals()).toEqual({});
    expect(tap.recorded()).toBeNull();
  });

  describe('hiding the usage-only chunk the gateway asked for', () => {
    const content = (text: string) => `data: {"choices":[{"index":0,"delta":{"content":"${text}"}}],"usage":null}\n\n`;
    const usage = 'data: {"id":"c","model":"m-1","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}\n\n';
    // Usage-looking text that is not the usage-only chunk stays: a mention in content, a usage object beside choices.
    const lookalike = 'data: {"choices":[{"index":0,"delta":{"content":"\\"usage\\": {}"}}],"usage":{"x":1}}\n\n';
    const expected = { model: 'm-1', tokens: { input: 1, cached_input: 0, cache_write: 0, output: 2, reasoning: 0 } };

    const hidingTap = (jsonLimit = 1 << 20) =>
      new ResponseTap({
        settle: [],
        reader: PROVIDERS.openai_chat.reader(),
        headers: { 'content-type': 'text/event-stream' },
        recordLimit: 0,
        jsonLimit,
        hideUsageChunk: true,
      });

    /** The client's bytes and the usage read, for a stream cut into `chunks`. */
    function through(chunks: Buffer[], jsonLimit?: number) {
      const tap = hidingTap(jsonLimit);
      const out = chunks.map((c) => tap.write(c));
      out.push(tap.end());
      return { client: Buffer.concat(out).toString(), usage: tap.usage() };
    }
    const byEvents = (events: string[], perChunk: number) =>
      Array.from({ length: Math.ceil(events.length / perChunk) }, (_, i) => Buffer.from(events.slice(i * perChunk, (i + 1) * perChunk).join('')));
    const bySize = (text: string, sizes: number[]) => {
      const bytes = Buffer.from(text);
      const chunks: Buffer[] = [];
      for (let i = 0, n = 0; i < bytes.length; n++) chunks.push(bytes.subarray(i, (i += sizes[n % sizes.length]!)));
      return chunks;
    };

    it('reads the usage and cuts that chunk out, whatever runs of whole events the chunks hold', () => {
      const events = [content('héllo'), lookalike, content('日本語'), usage, 'data: [DONE]\n\n'];
      for (let perChunk = 1; perChunk <= events.length; perChunk++) {
        expect(through(byEvents(events, perChunk)), `${perChunk} per chunk`).toEqual({ client: events.filter((e) => e !== usage).join(''), usage: expected });
      }
      // A chunk without the usage-only chunk is passed on as the same bytes.
      const tap = hidingTap();
      const chunk = Buffer.from(content('a') + lookalike);
      expect(tap.write(chunk)).toBe(chunk);
    });

    it('gives the same when chunks cut events, characters and line ends anywhere, mixed with whole runs', () => {
      // An event: line and a "\n\r\n" blank line (which the byte framing and the parser see, the text filter not), a CRLF event.
      const events = [
        content('héllo'),
        `event: x\n${content('🚀')}`,
        content('a').replace('\n\n', '\n\r\n'),
        content('b').replaceAll('\n', '\r\n'),
        usage,
        content('c'),
        'data: [DONE]\n\n',
      ];
      const text = events.join('');
      const client = events.filter((e) => e !== usage).join('');
      const lengths = events.map((e) => Buffer.byteLength(e));
      for (const sizes of [[1], [3, 1], [7, 70], [lengths[0]!, lengths[1]! + 3, 5], [lengths[0]! + lengths[1]!, lengths[2]!, lengths[3]!, lengths[4]!], [text.length * 4]]) {
        expect(through(bySize(text, sizes)), `sizes ${sizes.join(',')}`).toEqual({ client, usage: expected });
      }
      for (let perChunk = 1; perChunk <= events.length; perChunk++) expect(through(byEvents(events, perChunk)), `${perChunk} per chunk`).toEqual({ client, usage: expected });
    });

    it('never holds an event longer than the limit: it passes on as it comes, unread, and the usage after it is still read and hidden', () => {
      const long = content('x'.repeat(500));
      const events = [content('a'), long, content('b'), usage, 'data: [DONE]\n\n'];
      const text = events.join('');
      const client = events.filter((e) => e !== usage).join('');
      for (const sizes of [[1], [7, 70], [50], [Buffer.byteLength(content('a')) + 100, 3], [text.length]]) {
        expect(through(bySize(text, sizes), 200), `sizes ${sizes.join(',')}`).toEqual({ client, usage: expected });
      }
      // Held back only up to the limit: the start of the long event reaches the client before its end arrives.
      const tap = hidingTap(200);
      const head = tap.write(Buffer.from(content('a') + long.slice(0, 300)));
      expect(Buffer.from(head).toString()).toBe(content('a') + long.slice(0, 300));
      // An event with usage past the limit is not read: the reservation stays, as for a stream without usage.
      const bigUsage = content('a') + usage.replace('"id":"c"', `"id":"${'c'.repeat(300)}"`);
      for (const sizes of [[bigUsage.length], [40]]) expect(through(bySize(bigUsage, sizes), 200).usage, `sizes ${sizes.join(',')}`).toBeUndefined();
    });

    it('keeps the order when the text filter holds back an event the parser saw end', () => {
      // "\n\r\n" ends an event for the parser, not for the filter, which holds it until the next event's end.
      const held = content('a').replace('\n\n', '\n\r\n');
      const chunks = [content('héllo') + held, content('x'), usage, 'data: [DONE]\n\n'].map((c) => Buffer.from(c));
      expect(through(chunks)).toEqual({ client: content('héllo') + held + content('x') + 'data: [DONE]\n\n', usage: expected });
    });
  });
});
