/**
 * Incremental parser of a text/event-stream body: feed it bytes as they pass through, and
 * it calls `onEvent` with each complete event's data (the `data:` lines joined by "\n").
 * Chunks may split lines and multi-byte characters anywhere.
 */
export class SseParser {
  private readonly decoder = new TextDecoder();
  private buffer = '';
  private data: string[] = [];

  constructor(private readonly onEvent: (data: string) => void) {}

  write(chunk: Uint8Array): void {
    this.buffer += this.decoder.decode(chunk, { stream: true });
    this.drain();
  }

  /** Ends the stream: a last event without its blank line still counts. */
  end(): void {
    this.buffer += this.decoder.decode();
    this.drain();
    if (this.buffer !== '') this.line(this.buffer);
    this.buffer = '';
    this.dispatch();
  }

  private drain(): void {
    for (;;) {
      const i = this.buffer.search(/\r\n|\r|\n/);
      // A trailing "\r" may be the first half of "\r\n": wait for the next chunk.
      if (i < 0 || (i === this.buffer.length - 1 && this.buffer[i] === '\r')) return;
      const line = this.buffer.slice(0, i);
      this.buffer = this.buffer.slice(this.buffer.startsWith('\r\n', i) ? i + 2 : i + 1);
      this.line(line);
    }
  }

  private line(line: string): void {
    if (line === '') return this.dispatch();
    if (line.startsWith('data:')) this.data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
    // Comments (":"), event:, id: and retry: do not carry usage.
  }

  private dispatch(): void {
    if (this.data.length > 0) this.onEvent(this.data.join('\n'));
    this.data = [];
  }
}
