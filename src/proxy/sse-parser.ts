import { StringDecoder } from 'node:string_decoder';
import { dataValue } from './sse-framing.js';

/**
 * Incremental parser of a text/event-stream body: feed it bytes as they pass through, and
 * it calls `onEvent` with each complete event's data (the `data:` lines joined by "\n").
 * Chunks may split lines and multi-byte characters anywhere.
 */
export class SseParser {
  // StringDecoder, not TextDecoder: the same handling of characters split between chunks, a
  // third of the cost per chunk (TextDecoder's streaming mode goes through ICU).
  private readonly decoder = new StringDecoder('utf8');
  private buffer = '';
  private data: string[] = [];
  /** The last chunk ended with "\n", so the decoder holds no part of a character. */
  private endedAtLf = true;
  /** A line of an event has been read, and not yet its blank line. */
  private open = false;

  constructor(private readonly onEvent: (data: string) => void) {}

  write(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return;
    this.endedAtLf = chunk[chunk.byteLength - 1] === 0x0a;
    this.buffer += this.decoder.write(chunk);
    this.drain();
  }

  /** Whether everything written so far made whole events: the next byte starts a new one. */
  get betweenEvents(): boolean {
    return this.endedAtLf && this.buffer === '' && !this.open;
  }

  /** Ends the stream: a last event without its blank line still counts. */
  end(): void {
    this.buffer += this.decoder.end();
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
    this.buffer = start === 0 ? text : text.slice(start);
  }

  private line(line: string): void {
    if (line === '') return this.dispatch();
    this.open = true;
    if (line.startsWith('data:')) this.data.push(dataValue(line));
    // Comments (":"), event:, id: and retry: do not carry usage.
  }

  private dispatch(): void {
    if (this.data.length > 0) this.onEvent(this.data.join('\n'));
    this.data = [];
    this.open = false;
  }
}
