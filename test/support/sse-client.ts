import type { GatewayFixture, TestSubject } from './gateway.js';

/**
 * A minimal client-side reader of a text/event-stream body for tests: pulls one event at a
 * time from a fetch() body, so a test can act between events (open a gate, abort, ...).
 * Only `data:` lines are collected; an event ends at a blank line.
 */
export interface SseEvent {
  /** The event's data lines joined with "\n". */
  data: string;
}

export class SseReader {
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly decoder = new TextDecoder();
  private buffer = '';
  private done = false;
  /** Every byte read so far, decoded. */
  text = '';

  constructor(body: ReadableStream<Uint8Array>) {
    this.reader = body.getReader();
  }

  /** The next event, or null once the stream has ended. */
  async next(): Promise<SseEvent | null> {
    for (;;) {
      const event = this.takeEvent();
      if (event) return event;
      if (this.done) return null;
      const { done, value } = await this.reader.read();
      if (done) {
        this.done = true;
        this.buffer += this.decoder.decode();
        // A last event without its blank line still counts.
        if (this.buffer.trim() !== '') this.buffer += '\n\n';
        continue;
      }
      const chunk = this.decoder.decode(value, { stream: true });
      this.text += chunk;
      this.buffer += chunk.replace(/\r\n?/g, '\n');
    }
  }

  /** Reads every remaining event to the end of the stream. */
  async rest(): Promise<SseEvent[]> {
    const events: SseEvent[] = [];
    for (let e = await this.next(); e; e = await this.next()) events.push(e);
    return events;
  }

  /** Stops reading (the body is cancelled). */
  async cancel(): Promise<void> {
    await this.reader.cancel().catch(() => {});
  }

  private takeEvent(): SseEvent | null {
    for (;;) {
      const end = this.buffer.indexOf('\n\n');
      if (end === -1) return null;
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      const data = block
        .split('\n')
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).replace(/^ /, ''));
      if (data.length > 0) return { data: data.join('\n') };
      // Comments and other fields only: keep looking.
    }
  }
}

/** The event's data parsed as JSON, or undefined ("[DONE]" and other non-JSON data). */
export function eventJson(event: SseEvent): Record<string, unknown> | undefined {
  try {
    return JSON.parse(event.data) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/**
 * Polls `check` until it returns a truthy value (returned) or `timeoutMs` passes (throws,
 * naming `what`). For conditions the gateway reaches after a response has left, such as a
 * settlement that starts when the relayed body's end is seen.
 */
export async function eventually<T>(what: string, check: () => Promise<T> | T, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Waits until the request that produced `response` has ended its hold (settled, refunded or
 * released: the hold key, whose id is the request id, is gone), then until every settlement
 * started so far has finished. A settlement starts when the gateway sees the upstream body
 * end, which may be a moment after the client has read the last byte, so `gw.settled()`
 * alone could return before it began.
 */
export async function requestSettled(gw: GatewayFixture, subject: TestSubject, response: Response): Promise<void> {
  const requestId = response.headers.get('x-request-id');
  if (!requestId) throw new Error('the response has no x-request-id');
  const hold = gw.keys.hold(subject.id, requestId);
  await eventually(`the hold of request ${requestId} to end`, async () => (await gw.redis.exists(hold)) === 0);
  await gw.settled();
}
