import { describe, expect, it } from 'vitest';
import { dataOf, endsAtEventEnd, eventData, eventEnd, eventStart } from './sse-framing.js';

const b = (s: string) => Buffer.from(s);

describe('SSE event boundaries in bytes', () => {
  it('tells a chunk that ends with a blank line', () => {
    for (const whole of ['data: x\n\n', 'data: x\r\n\r\n', 'data: x\n\r\n', 'event: e\ndata: x\n\ndata: y\n\n', '\n\n'])
      expect(endsAtEventEnd(b(whole)), JSON.stringify(whole)).toBe(true);
    for (const cut of ['data: x\n', 'data: x\r\n', 'data: x\n\r', 'data: x', '\n', '', 'data: x\r\r']) expect(endsAtEventEnd(b(cut)), JSON.stringify(cut)).toBe(false);
  });

  it('finds the whole event around a byte, for LF and CRLF line ends', () => {
    for (const nl of ['\n', '\r\n']) {
      const events = [`data: {"a":1}${nl}${nl}`, `event: usage${nl}data: {"usage":{}}${nl}${nl}`, `data: [DONE]${nl}${nl}`];
      const bytes = b(events.join(''));
      const start = events[0]!.length;
      const end = start + events[1]!.length;
      for (const at of [start, bytes.indexOf('"usage"'), end - nl.length * 2 - 1]) {
        expect([eventStart(bytes, at), eventEnd(bytes, at)], `${JSON.stringify(nl)} at ${at}`).toEqual([start, end]);
      }
      expect([eventStart(bytes, 3), eventEnd(bytes, 3)]).toEqual([0, start]);
    }
  });

  it('never starts inside an event when blank lines are lone CRs: it takes in those before', () => {
    const bytes = b('data: a\r\rdata: {"usage":{}}\n\n');
    expect(eventStart(bytes, bytes.indexOf('"usage"'))).toBe(0);
    expect(eventEnd(bytes, bytes.indexOf('"usage"'))).toBe(bytes.length);
  });

  it('reads an event’s data from its bytes as dataOf reads its text', () => {
    const events = [
      'data: {"usage":{"total_tokens":3}}\n\n',
      'data:{"usage":{}}\n\n',
      'data:  two spaces\n\n',
      'data: ünïcödé “quotes”\n\n',
      'data:\n\n',
      'event: usage\ndata: {"usage":{}}\n\n',
      'data: {"a":\ndata: 1}\n\n',
      'data: x\r\n\r\n',
      'data: x\n\r\n',
      'data: a\rdata: b\n\n',
      ': comment\n\n',
      'id: 1\n\n',
    ];
    for (const event of events) {
      // Inside a run, between other events: the range is all it reads.
      const bytes = b(`data: before\n\n${event}data: after\n\n`);
      const start = Buffer.byteLength('data: before\n\n');
      const end = start + Buffer.byteLength(event);
      expect(eventData(bytes, start, end), JSON.stringify(event)).toBe(dataOf(event));
    }
  });
});
