import { StringDecoder } from 'node:string_decoder';
import { dataValue } from './sse-framing.js';

/**
 * Incremental parser of a text/event-stream body: feed it bytes as they pass through, and
 * it calls `onEvent` with each complete event's data (the `data:` lines joined by "\n").
 * Chunks may split lines and multi-byte characters anywhere. An event longer than
 * `maxEventChars` is let go as it passes, never held whole: it is not delivered.
 */
export class SseParser {
  // StringDecoder, not TextDecoder: the same handling of characters split between chunks, a
  // third of the cost per chunk (TextDecoder's streaming mode goes through ICU). Made at the
  // first chunk: a response tap that reads whole events from bytes never feeds its parser.
  private decoder: StringDecoder | undefined;
  private buffer = '';
  private data: string[] = [];
  /** The last chunk ended with "\n", so the decoder holds no part of a character. */
  private endedAtLf = true;
  /** A line of an event has been read, and not yet its blank line. */
  private open = false;
  /** Characters of the open event's data so far. */
  private size = 0;
  /** The open event is past the bound: it will not be delivered. */
  private overlong = false;
  /** The rest of a line let go past the bound is still to come: the next line read is that rest. */
  private skipLine = false;

  constructor(
    private readonly onEvent: (data: string) => void,
    private readonly maxEventChars = Number.POSITIVE_INFINITY,
  ) {}

  write(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return;
    this.endedAtLf = chunk[chunk.byteLength - 1] === 0x0a;
    this.buffer += (this.decoder ??= new StringDecoder('utf8')).write(chunk);
    this.drain();
  }

  /** Whether everything written so far made whole events: the next byte starts a new one. */
  get betweenEvents(): boolean {
    return this.endedAtLf && this.buffer === '' && !this.open;
  }

  /** Ends the stream: a last event without its blank line still counts. */
  end(): void {
    this.buffer += this.decoder?.end() ?? '';
    this.drain();
    if (this.buffer !== '') this.line(this.buffer);
    this.buffer = '';
    this.dispatch();
  }

  private drain(): void {
    const text = this.buffer;
    let start = 0;
    // Most streams end lines with "\n" alone: "\r" is looked for again only once passed.
    let cr = text.indexOf('\r');
    for (;;) {
      if (cr >= 0 && cr < start) cr = text.indexOf('\r', start);
      const lf = text.indexOf('\n', start);
      let end: number;
      if (cr >= 0 && (lf < 0 || cr < lf)) {
        // A trailing "\r" may be the first half of "\r\n": wait for the next chunk.
        if (cr === text.length - 1) break;
        end = cr;
      } else if (lf >= 0) {
        end = lf;
      } else {
        break;
      }
      this.line(text.slice(start, end));
      start = text.startsWith('\r\n', end) ? end + 2 : end + 1;
    }
    if (text.length - start > this.maxEventChars) {
      // A line without its end yet, past the bound: let go of it, and of its event if it is data.
      if (!this.skipLine && text.startsWith('data:', start)) this.drop();
      this.open = true;
      this.skipLine = true;
      start = text.length;
    }
    this.buffer = start === 0 ? text : text.slice(start);
  }

  private line(line: string): void {
    if (this.skipLine) {
      this.skipLine = false;
      return;
    }
    if (line === '') return this.dispatch();
    this.open = true;
    if (!line.startsWith('data:') || this.overlong) return; // Comments (":"), event:, id: and retry: do not carry usage.
    const value = dataValue(line);
    this.size += value.length;
    if (this.size > this.maxEventChars) this.drop();
    else this.data.push(value);
  }

  /** The open event is past the bound: what it holds goes. */
  private drop(): void {
    this.overlong = true;
    this.data = [];
  }

  private dispatch(): void {
    if (this.data.length > 0) this.onEvent(this.data.join('\n'));
    this.data = [];
    this.open = false;
    this.overlong = false;
    this.size = 0;
  }
}
