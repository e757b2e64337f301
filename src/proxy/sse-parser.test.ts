import { describe, expect, it } from 'vitest';
import { SseParser } from './sse-parser.js';

const parse = (chunks: (string | Uint8Array)[]) => {
  const events: string[] = [];
  const parser = new SseParser((d) => events.push(d));
  const encoder = new TextEncoder();
  for (const c of chunks) parser.write(typeof c === 'string' ? encoder.encode(c) : c);
  parser.end();
  return events;
};

describe('SseParser', () => {
  it('yields the data of each event, joining multi-line data', () => {
    expect(parse(['data: {"a":1}\n\ndata: x\ndata: y\n\n'])).toEqual(['{"a":1}', 'x\ny']);
  });

  it('handles events split across chunks, CRLF and CR line ends', () => {
    expect(parse(['da', 'ta: one\r', '\n\r\ndata: two\r\r', 'data:three\n\n'])).toEqual(['one', 'two', 'three']);
  });

  it('reads the same events however a stream mixing LF, CRLF and CR line ends is cut', () => {
    const stream = 'data: a\n\ndata: b\r\ndata: c\r\n\r\n: note\rdata: d\r\rdata: e\n\r\ndata: f\r\n\n';
    const whole = parse([stream]);
    expect(whole).toEqual(['a', 'b\nc', 'd', 'e', 'f']);
    for (let size = 1; size < stream.length; size++) {
      const chunks = Array.from({ length: Math.ceil(stream.length / size) }, (_, i) => stream.slice(i * size, (i + 1) * size));
      expect(parse(chunks), `chunks of ${size}`).toEqual(whole);
    }
  });

  it('handles a multi-byte character split between chunks', () => {
    const bytes = new TextEncoder().encode('data: héllo\n\n');
    const cut = bytes.indexOf(0xc3) + 1;
    expect(parse([bytes.slice(0, cut), bytes.slice(cut)])).toEqual(['héllo']);
  });

  it('ignores comments and other fields, and keeps a final event without its blank line', () => {
    expect(parse([': keep-alive\n\nevent: done\nid: 7\ndata: [DONE]'])).toEqual(['[DONE]']);
  });

  it('lets an event past its limit go as it passes, without holding it, and reads the ones around it', () => {
    const stream = `data: short\n\ndata: ${'x'.repeat(100)}\n\ndata: a\ndata: ${'y'.repeat(30)}\ndata: ${'z'.repeat(30)}\n\n: ${'c'.repeat(90)}\ndata: after\r\n\r\n`;
    for (let size = 1; size <= stream.length; size++) {
      const events: string[] = [];
      const parser = new SseParser((d) => events.push(d), 50);
      for (let i = 0; i < stream.length; i += size) parser.write(Buffer.from(stream.slice(i, i + size)));
      parser.end();
      // The 100-character line goes, and so does the event whose lines add up past 50; a long comment does not count.
      expect(events, `chunks of ${size}`).toEqual(['short', 'after']);
    }
  });
});
