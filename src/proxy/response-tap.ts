import { readJsonPath } from '../lib/json-path.js';
import type { UsageReader } from '../metering/provider-format.js';
import type { MeteredUsage } from '../metering/token-usage.js';
import { asBuffer, endsAtEventEnd, eventStart } from './sse-framing.js';
import { SseParser } from './sse-parser.js';

const NOTHING = new Uint8Array(0);

export interface TapOptions {
  /** Reserved metrics and where the response tells their actual amount. */
  settle: readonly { metric: string; from: string }[];
  /** The route's provider usage reader, fed every JSON message of the body. */
  reader?: UsageReader | undefined;
  headers: Record<string, string | string[] | undefined>;
  /** Keep the whole body up to this many bytes for the idempotency record (0 = don't). */
  recordLimit: number;
  /** Largest JSON body read for usage. */
  jsonLimit: number;
}

const asAmount = (value: unknown): number | undefined => {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : undefined;
};

/**
 * Watches a response body on its way to the client without holding it up: reads the
 * actual usage of reserved metrics (a header, the JSON body, or the last SSE event that
 * carries it), feeds the provider's usage reader, and keeps a copy of a small body for
 * idempotent replays.
 */
export class ResponseTap {
  private readonly found: Record<string, number> = {};
  private readonly bodyPaths: { metric: string; path: string }[] = [];
  private readonly sse: SseParser | null = null;
  private json: Uint8Array[] | null = null;
  private jsonSize = 0;
  private record: Uint8Array[] | null;
  private recordSize = 0;
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
      if (this.streamed) this.sse = new SseParser((data) => this.readEvent(data));
      else this.json = [];
    }
    // A streamed body is delivered as it comes and never stored for replay.
    this.record = options.recordLimit > 0 && !this.streamed ? [] : null;
  }

  write(chunk: Uint8Array): void {
    if (this.sse) this.sse.write(this.partToParse(this.sse, chunk));
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
  }

  end(): void {
    this.sse?.end();
    if (this.json) this.readUsage(Buffer.concat(this.json).toString('utf8'));
    this.json = null;
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
   * chunk is a run of whole events and the parser is between events (the usual case), it gets
   * only the part from the first event that may carry usage, or nothing: the rest is never
   * decoded. Response paths (`settle.from`) may point anywhere, so with them it gets it all.
   */
  private partToParse(sse: SseParser, chunk: Uint8Array): Uint8Array {
    const marker = this.bodyPaths.length === 0 ? this.options.reader?.marker : undefined;
    if (!marker || !sse.betweenEvents || !endsAtEventEnd(chunk)) return chunk;
    const at = marker.nextIn(asBuffer(chunk));
    return at < 0 ? NOTHING : chunk.subarray(eventStart(chunk, at));
  }

  /** Of the events parsed, only those that may carry usage are read (see partToParse). */
  private readEvent(data: string): void {
    if (this.bodyPaths.length === 0 && this.options.reader?.marker.in(data) === false) return;
    this.readUsage(data);
  }

  private readUsage(text: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return; // "[DONE]", keep-alives, or a body that is not JSON
    }
    this.options.reader?.read(parsed, !this.streamed);
    for (const { metric, path } of this.bodyPaths) {
      const amount = asAmount(readJsonPath(parsed, path));
      if (amount !== undefined) this.found[metric] = amount;
    }
  }
}
