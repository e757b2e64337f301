const COLON = 0x3a;
const isSpace = (byte: number | undefined): boolean => byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d;

/** "null" at `i`. */
const isNull = (bytes: Buffer, i: number): boolean => bytes[i] === 0x6e && bytes[i + 1] === 0x75 && bytes[i + 2] === 0x6c && bytes[i + 3] === 0x6c;

/**
 * The key a provider reports usage under (`"usage"`, Gemini's `"usageMetadata"`), looked for
 * in a stream event's text or bytes before anything is parsed: every message that carries
 * usage holds the key, content deltas do not. The test only says "maybe": the key with a
 * `null` value (OpenAI's content chunks once include_usage is set) does not count, anything
 * else does — a key in a string value or split over two `data:` lines only costs a parse, and
 * a message that carries usage is never skipped.
 */
export class UsageMarker {
  private readonly needle: Buffer;
  private readonly pattern: RegExp;

  constructor(readonly key: string) {
    this.needle = Buffer.from(`"${key}"`);
    this.pattern = new RegExp(`"${key}"(?!\\s*:\\s*null)`);
  }

  /** Whether a message's text may carry usage. */
  in(text: string): boolean {
    return this.pattern.test(text);
  }

  /** The offset in `bytes` of the next key at or after `from` that may carry usage; -1 when none. */
  nextIn(bytes: Buffer, from = 0): number {
    // Hops on the key's first letter, a one-byte search: searching for the whole needle
    // starts from its '"', which JSON has everywhere (3× slower on OpenAI chunks, measured).
    const { needle } = this;
    const first = needle[1]!;
    for (let at = bytes.indexOf(first, from + 1) - 1; at >= 0; at = bytes.indexOf(first, at + 2) - 1) {
      if (!startsWith(bytes, needle, at)) continue;
      let i = at + needle.length;
      while (isSpace(bytes[i])) i++;
      if (bytes[i] !== COLON) return at;
      i++;
      while (isSpace(bytes[i])) i++;
      if (!isNull(bytes, i)) return at;
    }
    return -1;
  }
}

/** Whether `bytes` hold `needle` at `at`. */
function startsWith(bytes: Buffer, needle: Buffer, at: number): boolean {
  for (let j = 0; j < needle.length; j++) if (bytes[at + j] !== needle[j]) return false;
  return true;
}

/** OpenAI's and Anthropic's usage object. */
export const USAGE_KEY = new UsageMarker('usage');
