import { describe, expect, it } from 'vitest';
import { USAGE_KEY, UsageMarker } from './usage-marker.js';

describe('UsageMarker: which stream events may carry usage, before parsing', () => {
  const cases: [string, boolean][] = [
    ['{"choices":[],"usage":{"total_tokens":3}}', true],
    ['{"usage" : \n {"output_tokens":1}}', true],
    ['{"choices":[{"delta":{"content":"hi"}}]}', false],
    ['{"choices":[{"delta":{"content":"hi"}}],"usage":null}', false],
    ['{"usage" :\tnull, "x": 1}', false],
    // Not an object, but not null either: parsed, and the reader decides.
    ['{"usage":"n/a"}', true],
    ['{"usage":nul', true],
    ['{"usage"', true],
    // The key split over two data: lines joins as "usage"\n: in the text, and is still seen in the bytes.
    ['{"usage"\ndata: :{"total_tokens":3}}', true],
    // A mention inside a string value is escaped: no key.
    ['{"content":"the \\"usage\\" field"}', false],
    ['{"usage":null,"x":{"usage":{"total_tokens":1}}}', true],
  ];

  it('says the same of an event’s text and of its bytes', () => {
    for (const [text, may] of cases) {
      expect(USAGE_KEY.in(text), text).toBe(may);
      expect(USAGE_KEY.nextIn(Buffer.from(text)) >= 0, text).toBe(may);
    }
  });

  it('finds each candidate from an offset on, past null ones', () => {
    const bytes = Buffer.from('data: {"usage":null}\n\ndata: {"usage":{"a":1}}\n\ndata: {"usage": {"a":2}}\n\n');
    const first = USAGE_KEY.nextIn(bytes);
    expect(bytes.toString('latin1', first, first + 10)).toBe('"usage":{"');
    const second = USAGE_KEY.nextIn(bytes, first + 1);
    expect(bytes.toString('latin1', second, second + 11)).toBe('"usage": {"');
    expect(USAGE_KEY.nextIn(bytes, second + 1)).toBe(-1);
  });

  it('finds the key at the very start, and past near misses of it', () => {
    expect(USAGE_KEY.nextIn(Buffer.from('"usage":1'))).toBe(0);
    expect(USAGE_KEY.nextIn(Buffer.from('"usage":1'), 1)).toBe(-1);
    expect(USAGE_KEY.nextIn(Buffer.from('u"usag"u"usages":1,"usage":2'))).toBe(19);
    expect(USAGE_KEY.nextIn(Buffer.from('usage"usage"usage":1'))).toBe(5);
    expect(USAGE_KEY.nextIn(Buffer.from('"usage'))).toBe(-1);
  });

  it('finds what a search for the whole key finds, on random text made of its letters', () => {
    const needle = Buffer.from('"usage"');
    // The plain search: every occurrence of the key, then the same null rule.
    const reference = (bytes: Buffer, from: number): number => {
      for (let at = bytes.indexOf(needle, from); at >= 0; at = bytes.indexOf(needle, at + 1)) {
        const after = bytes.toString('latin1', at + needle.length);
        if (!/^\s*:\s*null/.test(after)) return at;
      }
      return -1;
    };
    const letters = '"usage: nul{}u"';
    let seed = 7;
    const random = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) >> 8) % n;
    for (let n = 0; n < 5_000; n++) {
      const text = Array.from({ length: random(40) }, () => letters[random(letters.length)]).join('') + (random(2) ? '"usage"' : '') + (random(2) ? ':null' : ':1');
      const bytes = Buffer.from(text);
      const from = random(bytes.length + 1);
      expect(USAGE_KEY.nextIn(bytes, from), `${text} from ${from}`).toBe(reference(bytes, from));
    }
  });

  it('looks for the provider’s own key', () => {
    const gemini = new UsageMarker('usageMetadata');
    expect(gemini.in('{"usageMetadata":{"promptTokenCount":1}}')).toBe(true);
    expect(gemini.in('{"usage":{"promptTokenCount":1}}')).toBe(false);
    expect(gemini.nextIn(Buffer.from('{"candidates":[],"usageMetadata": {"x":1}}'))).toBe(17);
  });
});
