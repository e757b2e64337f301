import { describe, expect, it } from 'vitest';
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
});
