import { describe, expect, it } from 'vitest';
import { askForUsage, UsageChunkFilter } from './include-usage.js';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

describe('include_usage asked for by the gateway', () => {
  const ask = (json: unknown, text = JSON.stringify(json), provider: 'openai_chat' | 'anthropic' | undefined = 'openai_chat') => askForUsage(provider, json, enc(text));

  it('rewrites an OpenAI chat stream request that did not ask, keeping its other stream options', () => {
    const body = ask({ model: 'm', stream: true, stream_options: { include_obfuscation: false } });
    expect(JSON.parse(dec(body!))).toEqual({ model: 'm', stream: true, stream_options: { include_obfuscation: false, include_usage: true } });
  });

  it('adds the option to a request without stream options, leaving the rest of its text as sent', () => {
    const text = ' \n{ "model": "m",\n  "messages": [{"role": "user", "content": "héllo {}"}], "stream": true }\n';
    const body = dec(ask(JSON.parse(text), text)!);
    expect(JSON.parse(body)).toEqual({ ...JSON.parse(text), stream_options: { include_usage: true } });
    expect(body.replace('"stream_options":{"include_usage":true},', '')).toBe(text);
  });

  it('leaves alone a request that asked, does not stream, or speaks another API', () => {
    expect(ask({ stream: true, stream_options: { include_usage: true } })).toBeNull();
    expect(ask({ stream: false })).toBeNull();
    expect(ask({ stream: true }, undefined, 'anthropic')).toBeNull();
    expect(askForUsage(undefined, { stream: true }, enc('{"stream":true}'))).toBeNull();
  });

  it('drops the usage-only chunk from the client’s copy, byte for byte otherwise, however the events are split', () => {
    const content = 'data: {"choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n';
    const usage = 'data: {"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}\n\n';
    const stream = `${content}${content.replace('hi', 'there')}\r\n${usage}data: [DONE]\n\n`.replace('\n\n\r\n', '\r\n\r\n');
    for (const size of [1, 5, 17, 4096]) {
      const filter = new UsageChunkFilter();
      let out = '';
      const bytes = enc(stream);
      for (let i = 0; i < bytes.length; i += size) out += dec(filter.write(bytes.subarray(i, i + size)));
      out += dec(filter.end());
      expect(out).toBe(stream.replace(usage, ''));
    }
  });

  it('passes multi-byte text through whole however chunks cut it, aligned with events or not', () => {
    const content = (text: string) => `data: {"choices":[{"index":0,"delta":{"content":"${text}"}}],"usage":null}\n\n`;
    const usage = 'data: {"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}\n\n';
    // "é-note" is a field clients ignore: a character split right after an event's end.
    const stream = `${content('héllo')}é-note: x\n${content('日本語')}${content('🚀')}${usage}data: [DONE]\n\n`;
    const bytes = enc(stream);
    // Cuts at every event end and at bytes in the middle of characters, in several mixes.
    const cutInE = [enc(content('héllo')).length + 1, enc(`é-note: x\n${content('日本語')}`).length - 1, 1000];
    for (const sizes of [[1], [2, 3], cutInE, [content('héllo').length], [7, 70, 1], [bytes.length]]) {
      const filter = new UsageChunkFilter();
      const out: Uint8Array[] = [];
      for (let i = 0, n = 0; i < bytes.length; n++) {
        const size = sizes[n % sizes.length]!;
        out.push(filter.write(bytes.subarray(i, i + size)));
        i += size;
      }
      out.push(filter.end());
      expect(dec(Buffer.concat(out)), `sizes ${sizes.join(',')}`).toBe(stream.replace(usage, ''));
    }
  });

  it('keeps chunks that carry content, or usage null', () => {
    const filter = new UsageChunkFilter();
    const event = 'data: {"choices":[{"index":0,"delta":{"content":"x"}}],"usage":null}\n\n';
    expect(dec(filter.write(enc(event)))).toBe(event);
  });
});
