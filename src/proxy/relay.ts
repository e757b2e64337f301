import type { Readable } from 'node:stream';
import type { ResponseTap } from './response-tap.js';
import { SMALL_BODY_BYTES } from './small-body.js';

/** How a relayed body ended. */
export type RelayEnd =
  | { kind: 'complete' }
  | { kind: 'upstream_error'; error: unknown }
  /** The client went away; `drained` when the rest was read anyway to learn the usage. */
  | { kind: 'client_abort'; drained: boolean }
  /** Cut off at the request's deadline (its hold would otherwise expire mid-stream). */
  | { kind: 'deadline' };

export interface RelayOptions {
  /** On client abort, keep reading the upstream to its end (bounded by the deadline). */
  drainOnAbort: boolean;
  deadlineMs: number;
}

/**
 * The whole body, if it has all arrived within one turn of the event loop and is small (see
 * SMALL_BODY_BYTES) — as a short JSON answer that came with its headers has: it then goes
 * to the client in one write with the headers, far cheaper than a web stream. Otherwise
 * null, with what was read put back, and the body is to be relayed.
 */
export async function arrivedWhole(body: Readable): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  const ended = await new Promise<boolean>((resolve) => {
    const done = (whole: boolean) => {
      clearImmediate(turn);
      body.off('data', onData).off('end', onEnd).off('error', onError);
      body.pause();
      resolve(whole);
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.byteLength;
      if (size > SMALL_BODY_BYTES) done(false);
    };
    const onEnd = () => done(true);
    // The relay meets the error again when it reads on.
    const onError = () => done(false);
    const turn = setImmediate(() => done(false));
    body.on('data', onData).on('end', onEnd).on('error', onError);
  });
  if (!ended) {
    if (!body.destroyed) for (let i = chunks.length - 1; i >= 0; i--) body.unshift(chunks[i]);
    return null;
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

/**
 * Streams the upstream body to the client chunk by chunk (SSE events arrive as sent),
 * feeding each chunk to the tap, which gives what the client gets of it, and calls `onEnd`
 * exactly once.
 */
export function relay(body: Readable, tap: ResponseTap, options: RelayOptions, onEnd: (end: RelayEnd) => void): ReadableStream<Uint8Array> {
  // Failures reach us through the iterator below; destroying the body (client gone,
  // deadline) also emits 'error', which without a listener would kill the process.
  body.on('error', () => {});
  let ended = false;
  let pastDeadline = false;
  const timer = setTimeout(() => {
    pastDeadline = true;
    body.destroy(new Error('request deadline reached'));
  }, options.deadlineMs);
  timer.unref();
  const finish = (end: RelayEnd) => {
    if (ended) return;
    ended = true;
    clearTimeout(timer);
    tap.end();
    onEnd(pastDeadline ? { kind: 'deadline' } : end);
  };
  const chunks = body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  // Set once the client has gone. A pull may still be waiting for the upstream then: what it
  // gets is still fed to the tap, but the cancelled stream takes no more chunks (enqueue and
  // close would throw, which must not pass for an upstream error and refund the request).
  let cancelled = false;

  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        // The tap may keep a whole chunk from the client: read on until there is something to
        // give, or an empty pull would leave the client's read waiting forever.
        for (;;) {
          let next: IteratorResult<Buffer>;
          try {
            next = await chunks.next();
          } catch (error) {
            if (!cancelled) controller.error(error);
            finish({ kind: 'upstream_error', error });
            return;
          }
          if (next.done) {
            const rest = tap.end();
            if (!cancelled && rest.byteLength > 0) controller.enqueue(rest);
            if (!cancelled) controller.close();
            finish(cancelled ? { kind: 'client_abort', drained: true } : { kind: 'complete' });
            return;
          }
          const out = tap.write(next.value);
          // Once the client has gone, cancel() reads the rest: stop here.
          if (out.byteLength === 0 && !cancelled) continue;
          if (!cancelled) controller.enqueue(out);
          return;
        }
      },
      async cancel() {
        cancelled = true;
        if (!options.drainOnAbort) {
          body.destroy();
          finish({ kind: 'client_abort', drained: false });
          return;
        }
        try {
          for (let next = await chunks.next(); !next.done; next = await chunks.next()) tap.write(next.value);
          finish({ kind: 'client_abort', drained: true });
        } catch (error) {
          finish({ kind: 'upstream_error', error });
        }
      },
    },
    { highWaterMark: 0 },
  );
}
