import type { ProviderName } from '../metering/providers.js';
import { isRecord } from '../metering/token-usage.js';

/**
 * OpenAI chat streams report usage only when asked (`stream_options.include_usage`), in an
 * extra last chunk with empty `choices`. When a client did not ask, the gateway asks for it
 * (so the stream settles from real usage, not the reservation) and keeps that chunk from the
 * client, who gets the stream it asked for. The other chunks then carry `"usage": null`, as
 * OpenAI documents for include_usage: they are passed through unchanged.
 */

/** The body to send upstream instead, asking for usage; null when the request already asks or does not stream. */
export function askForUsage(provider: ProviderName | undefined, json: unknown): Uint8Array | null {
  if (provider !== 'openai_chat' || !isRecord(json) || json.stream !== true) return null;
  const options = isRecord(json.stream_options) ? json.stream_options : {};
  if (options.include_usage === true) return null;
  return Buffer.from(JSON.stringify({ ...json, stream_options: { ...options, include_usage: true } }));
}

const EVENT_END = /\r\n\r\n|\n\n|\r\r/;

/** Whether an event is the usage-only chunk: `data:` JSON with `choices: []` and a `usage` object. */
function isUsageChunk(event: string): boolean {
  const data = event
    .split(/\r\n|\n|\r/)
    .filter((line) => line.startsWith('data:'))
    .map((line) => line.slice(line.startsWith('data: ') ? 6 : 5))
    .join('\n');
  if (!data.includes('"usage"')) return false;
  try {
    const json: unknown = JSON.parse(data);
    return isRecord(json) && Array.isArray(json.choices) && json.choices.length === 0 && isRecord(json.usage);
  } catch {
    return false;
  }
}

/**
 * The client's copy of the stream without the usage-only chunk: whole events are passed on
 * byte for byte as they complete, that one is dropped.
 */
export class UsageChunkFilter {
  private readonly decoder = new TextDecoder();
  private readonly encoder = new TextEncoder();
  private buffer = '';

  write(chunk: Uint8Array): Uint8Array {
    this.buffer += this.decoder.decode(chunk, { stream: true });
    let out = '';
    for (let match = EVENT_END.exec(this.buffer); match; match = EVENT_END.exec(this.buffer)) {
      const end = match.index + match[0].length;
      const event = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end);
      if (!isUsageChunk(event)) out += event;
    }
    return this.encoder.encode(out);
  }

  /** What is left at the end of the stream (an event without its blank line). */
  end(): Uint8Array {
    const rest = this.buffer + this.decoder.decode();
    this.buffer = '';
    return this.encoder.encode(isUsageChunk(rest) ? '' : rest);
  }
}
