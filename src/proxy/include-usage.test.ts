import { describe, expect, it } from 'vitest';
import { askForUsage, UsageChunkFilter } from './include-usage.js';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

describe('include_usage asked for by the gateway', () => {
  it('rewrites an OpenAI chat stream request that did not ask, keeping its other stream options', () => {
    const body = askForUsage('openai_chat', { model: 'm', stream: true, stream_options: { include_obfuscation: false } });
    expect(JSON.parse(dec(body!))).toEqual({ model: 'm', stream: true, stream_options: { include_obfuscation: false, include_usage: true } });
  });

  it('leaves alone a request that asked, does not stream, or speaks another API', () => {
    expect(askForUsage('openai_chat', { stream: true, stream_options: { include_usage: true } })).toBeNull();
    expect(askForUsage('openai_chat', { stream: false })).toBeNull();
    expect(askForUsage('anthropic', { stream: true })).toBeNull();
    expect(askForUsage(undefined, { stream: true })).toBeNull();
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

  it('keeps chunks that carry content, or usage null', () => {
    const filter = new UsageChunkFilter();
    const event = 'data: {"choices":[{"index":0,"delta":{"content":"x"}}],"usage":null}\n\n';
    expect(dec(filter.write(enc(event)))).toBe(event);
  });
});
