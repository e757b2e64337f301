import { StringDecoder } from 'node:string_decoder';
import type { ProviderName } from '../metering/providers.js';
import { isRecord } from '../metering/token-usage.js';
import { USAGE_KEY } from '../metering/usage-marker.js';
import { dataOf } from './sse-framing.js';

/**
 * OpenAI chat streams report usage only when asked (`stream_options.include_usage`), in an
 * extra last chunk with empty `choices`. When a client did not ask, the gateway asks for it
 * (so the stream settles from real usage, not the reservation) and keeps that chunk from the
 * client, who gets the stream it asked for. The other chunks then carry `"usage": null`, as
 * OpenAI documents for include_usage: they are passed through unchanged.
 */

/**
 * The body to send upstream instead, asking for usage; null when the request already asks or
 * does not stream. `body` is the request's bytes, `json` their parse.
 */
export function askForUsage(provider: ProviderName | undefined, json: unknown, body: Uint8Array | null): Uint8Array | null {
  if (provider !== 'openai_chat' || !isRecord(json) || json.stream !== true) return null;
  // Usually there are no stream options: the field goes in after the object's "{", and a
  // long conversation is not serialised again.
  if (body && !Object.hasOwn(json, 'stream_options')) {
    const open = body.indexOf(0x7b); // "{": only whitespace can come before it
    return Buffer.concat([body.subarray(0, open + 1), ASK_FOR_USAGE, body.subarray(open + 1)]);
  }
  const options = isRecord(json.stream_options) ? json.stream_options : {};
  if (options.include_usage === true) return null;
  return Buffer.from(JSON.stringify({ ...json, stream_options: { ...options, include_usage: true } }));
}

/** Followed by the object's own fields, of which there is at least one (`stream`). */
const ASK_FOR_USAGE = Buffer.from('"stream_options":{"include_usage":true},');

const EVENT_END = /\r\n\r\n|\n\n|\r\r/;

/** Text the usage-only chunk holds and content chunks do not: tested before parsing an event. */
const EMPTY_CHOICES = /"choices"\s*:\s*\[\s*\]/;

/** Whether a parsed chunk is the usage-only one: `choices: []` and a `usage` object. */
export const isUsageOnly = (message: unknown): boolean => isRecord(message) && Array.isArray(message.choices) && message.choices.length === 0 && isRecord(message.usage);

/** Whether an event's text is the usage-only chunk. */
function isUsageChunk(event: string): boolean {
  if (!EMPTY_CHOICES.test(event) || !USAGE_KEY.in(event)) return false;
  try {
    return isUsageOnly(JSON.parse(dataOf(event)));
  } catch {
    return false;
  }
}

const LF = 0x0a;

/**
 * The client's copy of the stream without the usage-only chunk: whole events are passed on
 * byte for byte as they complete, that one is dropped. An event longer than `maxHeldChars`
 * cannot be that small chunk: it is passed on as it comes instead of being held whole.
 */
export class UsageChunkFilter {
  /** Made at the first chunk: a response tap that cuts whole events from bytes never feeds its filter. */
  private decoder: StringDecoder | undefined;
  private buffer = '';
  /** The last chunk ended with "\n", so the decoder holds no part of a character. */
  private endedAtLf = true;
  /** The open event is being passed on as it comes (past the bound): the rest of it follows. */
  private passing = false;

  constructor(private readonly maxHeldChars = Number.POSITIVE_INFINITY) {}

  /** Whether everything written so far was passed on or dropped: nothing is held back, no event is open. */
  get clean(): boolean {
    return this.endedAtLf && this.buffer === '' && !this.passing;
  }

  write(chunk: Uint8Array): Uint8Array {
    if (chunk.byteLength === 0) return chunk;
    const startsClean = this.clean;
    this.endedAtLf = chunk[chunk.byteLength - 1] === LF;
    const aligned = startsClean && this.endedAtLf;
    this.buffer += (this.decoder ??= new StringDecoder('utf8')).write(chunk);
    let out = '';
    let dropped = false;
    for (let match = EVENT_END.exec(this.buffer); match; match = EVENT_END.exec(this.buffer)) {
      const end = match.index + match[0].length;
      const event = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end);
      if (this.passing) this.passing = false;
      else if (isUsageChunk(event)) {
        dropped = true;
        continue;
      }
      out += event;
    }
    if (this.buffer.length > this.maxHeldChars) {
      out += this.buffer;
      this.buffer = '';
      this.passing = true;
    }
    if (aligned && !dropped && this.buffer === '') return chunk;
    return Buffer.from(out);
  }

  /** What is left at the end of the stream (an event without its blank line). */
  end(): Uint8Array {
    const rest = this.buffer + (this.decoder?.end() ?? '');
    this.buffer = '';
    return Buffer.from(!this.passing && isUsageChunk(rest) ? '' : rest);
  }
}
