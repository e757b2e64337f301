import { StringDecoder } from 'node:string_decoder';
import type { ProviderName } from '../metering/providers.js';
import { isRecord } from '../metering/token-usage.js';
import { USAGE_KEY } from '../metering/usage-marker.js';
import { asBuffer, endsAtEventEnd, eventEnd, eventStart } from './sse-framing.js';

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

/** Whether an event is the usage-only chunk: `data:` JSON with `choices: []` and a `usage` object. */
function isUsageChunk(event: string): boolean {
  if (!EMPTY_CHOICES.test(event) || !USAGE_KEY.in(event)) return false;
  const data = event
    .split(/\r\n|\n|\r/)
    .filter((line) => line.startsWith('data:'))
    .map((line) => line.slice(line.startsWith('data: ') ? 6 : 5))
    .join('\n');
  try {
    const json: unknown = JSON.parse(data);
    return isRecord(json) && Array.isArray(json.choices) && json.choices.length === 0 && isRecord(json.usage);
  } catch {
    return false;
  }
}

const LF = 0x0a;
const CR = 0x0d;

/**
 * The client's copy of the stream without the usage-only chunk: whole events are passed on
 * byte for byte as they complete, that one is dropped.
 */
export class UsageChunkFilter {
  private readonly decoder = new StringDecoder('utf8');
  private buffer = '';
  /** The last chunk ended with "\n", so the decoder holds no part of a character. */
  private endedAtLf = true;

  write(chunk: Uint8Array): Uint8Array {
    if (chunk.byteLength === 0) return chunk;
    const startsClean = this.endedAtLf && this.buffer === '';
    this.endedAtLf = chunk[chunk.byteLength - 1] === LF;
    // The usual case: upstreams flush event by event. (Lone "\r" line ends, which the byte
    // framing does not see, take the decoding path.)
    if (startsClean && endsAtEventEnd(chunk) && chunk.indexOf(CR) < 0) return wholeEvents(asBuffer(chunk));
    const aligned = startsClean && this.endedAtLf;
    this.buffer += this.decoder.write(chunk);
    let out = '';
    let dropped = false;
    for (let match = EVENT_END.exec(this.buffer); match; match = EVENT_END.exec(this.buffer)) {
      const end = match.index + match[0].length;
      const event = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end);
      if (isUsageChunk(event)) dropped = true;
      else out += event;
    }
    if (aligned && !dropped && this.buffer === '') return chunk;
    return Buffer.from(out);
  }

  /** What is left at the end of the stream (an event without its blank line). */
  end(): Uint8Array {
    const rest = this.buffer + this.decoder.end();
    this.buffer = '';
    return Buffer.from(isUsageChunk(rest) ? '' : rest);
  }
}

/**
 * A run of whole events as it came, without the usage-only chunk if it holds it; only the
 * events whose bytes may carry usage are decoded and looked at.
 */
function wholeEvents(chunk: Buffer): Uint8Array {
  const kept: Buffer[] = [];
  let keptFrom = 0;
  for (let at = USAGE_KEY.nextIn(chunk); at >= 0;) {
    const start = eventStart(chunk, at);
    const end = eventEnd(chunk, at);
    if (isUsageChunk(chunk.toString('utf8', start, end))) {
      kept.push(chunk.subarray(keptFrom, start));
      keptFrom = end;
    }
    at = USAGE_KEY.nextIn(chunk, end);
  }
  if (kept.length === 0) return chunk;
  kept.push(chunk.subarray(keptFrom));
  return Buffer.concat(kept);
}
