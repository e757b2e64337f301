import { asBuffer } from '../lib/as-buffer.js';
import { readJsonPath } from '../lib/json-path.js';
import type { UsageReader } from '../metering/provider-format.js';
import type { MeteredUsage } from '../metering/token-usage.js';
import { isUsageOnly, UsageChunkFilter } from './include-usage.js';
import { endsAtEventEnd, eventData, eventEnd, eventStart } from './sse-framing.js';
import { SseParser } from './sse-parser.js';

export interface TapOptions {
  /** Reserved metrics and where the response tells their actual amount. */
  settle: readonly { metric: string; from: string }[];
  /** The route's provider usage reader, fed every JSON message of the body. */
  reader?: UsageReader | undefined;
  headers: Record<string, string | string[] | undefined>;
  /** Keep the whole body up to this many bytes for the idempotency record (0 = don't). */
  recordLimit: number;
  /** Largest JSON body, or stream event, read for usage (bytes; a stream's events are bounded in characters). */
  jsonLimit: number;
  /**
   * The gateway asked an OpenAI chat stream for usage the client did not ask for
   * (include-usage.ts): the usage-only chunk is kept from the client.
   */
  hideUsageChunk?: boolean;
}

const CR = 0x0d;
const NOTHING = new Uint8Array(0);

const asAmount = (value: unknown): number | undefined => {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : undefined;
};

/**
 * Watches a response body on its way to the client without holding it up: reads the
 * actual usage of reserved metrics (a header, the JSON body, or the last SSE event that
 * carries it), feeds the provider's usage reader, keeps a copy of a small body for
 * idempotent replays, and gives what the client gets of each chunk (all of it, unless a
 * usage chunk the client did not ask for is to be hidden).
 */
export class ResponseTap {
  private readonly found: Record<string, number> = {};
  private readonly bodyPaths: { metric: string; path: string }[] = [];
  private readonly sse: SseParser | null = null;
  private json: Uint8Array[] | null = null;
  private jsonSize = 0;
  private record: Uint8Array[] | null;
  private recordSize = 0;
  /** Hides the usage-only chunk from chunks that are not runs of whole events (null when nothing is hidden). */
  private readonly filter: UsageChunkFilter | null;
  private ended = false;
  readonly streamed: boolean;

  constructor(private readonly options: TapOptions) {
    const contentType = String(options.headers['content-type'] ?? '');
    this.streamed = contentType.startsWith('text/event-stream');
    for (const { metric, from } of options.settle) {
      if (from.startsWith('header.')) {
        const amount = asAmount(options.headers[from.slice(7).toLowerCase()]);
        if (amount !== undefined) this.found[metric] = amount;
      } else {
        this.bodyPaths.push({ metric, path: from.slice('response.'.length) });
      }
    }
    if (this.bodyPaths.length > 0 || options.reader) {
      if (this.streamed) this.sse = new SseParser((data) => this.readEvent(data), options.jsonLimit);
      else this.json = [];
    }
    // A streamed body is delivered as it comes and never stored for replay.
    this.record = options.recordLimit > 0 && !this.streamed ? [] : null;
    this.filter = options.hideUsageChunk && this.streamed ? new UsageChunkFilter(options.jsonLimit) : null;
  }

  /** Takes the next chunk of the upstream's body; returns what the client gets of it. */
  write(chunk: Uint8Array): Uint8Array {
    let out = chunk;
    if (this.sse) {
      const whole = this.readWholeEvents(this.sse, chunk);
      if (whole) out = whole;
      else {
        this.sse.write(chunk);
        if (this.filter) out = this.filter.write(chunk);
      }
    }
    if (this.json) {
      this.jsonSize += chunk.byteLength;
      if (this.jsonSize > this.options.jsonLimit) this.json = null;
      else this.json.push(chunk);
    }
    if (this.record) {
      this.recordSize += chunk.byteLength;
      if (this.recordSize > this.options.recordLimit) this.record = null;
      else this.record.push(chunk);
    }
    return out;
  }

  /** The body has ended (or was cut off): reads what is left; returns what the client still gets (once). */
  end(): Uint8Array {
    if (this.ended) return NOTHING;
    this.ended = true;
    this.sse?.end();
    if (this.json) this.readUsage(Buffer.concat(this.json).toString('utf8'));
    this.json = null;
    return this.filter?.end() ?? NOTHING;
  }

  /** Actual amounts found so far, by metric. */
  actuals(): Record<string, number> {
    return { ...this.found };
  }

  /** The usage the provider reported, if the body carried it. */
  usage(): MeteredUsage | undefined {
    return this.options.reader?.usage();
  }

  /** The whole body, if it was recordable and small enough. */
  recorded(): Buffer | null {
    return this.record ? Buffer.concat(this.record) : null;
  }

  /**
   * Most events of a provider's stream are content deltas, which cannot carry usage. When the
   * chunk is a run of whole events and the parser is between events (the usual case), only
   * the events whose bytes may carry usage are decoded and read, once for both the usage and
   * the usage-only chunk to hide. Returns what the client gets of the chunk; null when the
   * chunk needs the parser (and the filter). Response paths (`settle.from`) may point
   * anywhere, so with them every event goes through the parser.
   */
  private readWholeEvents(sse: SseParser, chunk: Uint8Array): Uint8Array | null {
    const marker = this.bodyPaths.length === 0 ? this.options.reader?.marker : undefined;
    if (!marker || !sse.betweenEvents || !endsAtEventEnd(chunk)) return null;
    // Lone "\r" line ends are not seen by the byte framing: cutting an event out needs them
    // found. And the filter may hold back part of an event the parser has already seen whole.
    if (this.filter && (!this.filter.clean || chunk.indexOf(CR) >= 0)) return null;
    const bytes = asBuffer(chunk);
    let kept: Buffer[] | null = null;
    let keptFrom = 0;
    for (let at = marker.nextIn(bytes); at >= 0;) {
      const start = eventStart(bytes, at);
      const end = eventEnd(bytes, at);
      // An event past the limit is not read, as the parser would not read it.
      const message = end - start > this.options.jsonLimit ? undefined : this.readUsage(eventData(bytes, start, end));
      if (this.filter && isUsageOnly(message)) {
        (kept ??= []).push(bytes.subarray(keptFrom, start));
        keptFrom = end;
      }
      at = marker.nextIn(bytes, end);
    }
    if (!kept) return chunk;
    kept.push(bytes.subarray(keptFrom));
    return Buffer.concat(kept);
  }

  /** Of the events the parser delivers, only those that may carry usage are read (as in readWholeEvents). */
  private readEvent(data: string): void {
    if (this.bodyPaths.length === 0 && this.options.reader?.marker.in(data) === false) return;
    this.readUsage(data);
  }

  private readUsage(text: string): unknown {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return undefined; // "[DONE]", keep-alives, or a body that is not JSON
    }
    this.options.reader?.read(parsed, !this.streamed);
    for (const { metric, path } of this.bodyPaths) {
      const amount = asAmount(readJsonPath(parsed, path));
      if (amount !== undefined) this.found[metric] = amount;
    }
    return parsed;
  }
}
