/**
 * Event boundaries of a text/event-stream found in its bytes, without decoding them: an event
 * ends at a blank line. Upstreams flush event by event, so a chunk is usually a run of whole
 * events, and most of them (content deltas) need not be decoded at all.
 */

const LF = 0x0a;
const CR = 0x0d;

/** Whether `bytes` end with a blank line ("\n\n", "\r\n\r\n" or "\n\r\n"), so their last event is whole. */
export function endsAtEventEnd(bytes: Uint8Array): boolean {
  let i = bytes.byteLength - 1;
  if (bytes[i] !== LF) return false;
  i--;
  if (bytes[i] === CR) i--;
  return bytes[i] === LF;
}

/**
 * In a run of whole events, where the event holding byte `at` starts: after the last blank
 * line before it (0 when none). A blank line of lone "\r"s is not seen, so the range found
 * may take in the events before it too; it never starts inside an event.
 */
export function eventStart(bytes: Uint8Array, at: number): number {
  for (let lf = bytes.lastIndexOf(LF, at); lf > 0; lf = bytes.lastIndexOf(LF, lf - 1)) {
    if (bytes[lf - 1] === LF || (bytes[lf - 1] === CR && bytes[lf - 2] === LF)) return lf + 1;
  }
  return 0;
}

/** In a run of whole events, where the event holding byte `at` ends: after its blank line (the end of `bytes` when none). */
export function eventEnd(bytes: Uint8Array, at: number): number {
  for (let lf = bytes.indexOf(LF, at); lf >= 0; lf = bytes.indexOf(LF, lf + 1)) {
    if (bytes[lf + 1] === LF) return lf + 2;
    if (bytes[lf + 1] === CR && bytes[lf + 2] === LF) return lf + 3;
  }
  return bytes.byteLength;
}

/** The value of a `data:` line (one space after the colon is not part of it). */
export const dataValue = (line: string): string => line.slice(line.startsWith('data: ') ? 6 : 5);

/** The data of one whole event's text: its `data:` lines' values joined by "\n" ('' when none). */
export function dataOf(event: string): string {
  let data: string | undefined;
  for (let start = 0; start < event.length;) {
    const lf = event.indexOf('\n', start);
    const cr = event.indexOf('\r', start);
    const end = cr >= 0 && (lf < 0 || cr < lf) ? cr : lf < 0 ? event.length : lf;
    if (event.startsWith('data:', start)) {
      const value = dataValue(event.slice(start, end));
      data = data === undefined ? value : `${data}\n${value}`;
    }
    start = event.startsWith('\r\n', end) ? end + 2 : end + 1;
  }
  return data ?? '';
}

/** "data:" at `i`. */
const isDataField = (bytes: Buffer, i: number): boolean => bytes[i] === 0x64 && bytes[i + 1] === 0x61 && bytes[i + 2] === 0x74 && bytes[i + 3] === 0x61 && bytes[i + 4] === 0x3a;

/**
 * The data of the whole event `bytes[start, end)` (as eventStart and eventEnd find it). An
 * event of one `data:` line (what providers send) is decoded from its value's bytes alone;
 * anything else is decoded whole and read by dataOf.
 */
export function eventData(bytes: Buffer, start: number, end: number): string {
  const lf = bytes.indexOf(LF, start);
  const oneLine = lf + 2 === end && bytes[lf + 1] === LF && isDataField(bytes, start);
  if (!oneLine || bytes.lastIndexOf(CR, lf) >= start) return dataOf(bytes.toString('utf8', start, end));
  const from = start + 'data:'.length;
  return bytes.toString('utf8', bytes[from] === 0x20 ? from + 1 : from, lf);
}
