import { asBuffer } from '../lib/as-buffer.js';
import { ProblemError } from '../http/problem.js';

function tooLarge(max: number): ProblemError {
  return new ProblemError('payload_too_large', `the request body exceeds ${max} bytes`, { limit: max });
}

/** Refuses a declared Content-Length above the limit before anything is read or charged. */
export function checkDeclaredLength(headers: Headers, max: number): void {
  const declared = headers.get('content-length');
  if (declared !== null && Number(declared) > max) throw tooLarge(max);
}

/** Reads the whole body, failing with 413 as soon as it passes `max` bytes. */
export async function readBodyLimited(request: Request, max: number): Promise<Uint8Array> {
  checkDeclaredLength(request.headers, max);
  if (request.headers.has('content-length')) {
    // Node's HTTP parser delivers exactly the declared length, and @hono/node-server reads
    // it straight from the socket this way, without building a web stream.
    const body = new Uint8Array(await request.arrayBuffer());
    if (body.byteLength > max) throw tooLarge(max);
    return body;
  }
  if (!request.body) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of request.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > max) throw tooLarge(max);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * Passes a body through while counting it; past `max` bytes the stream fails and
 * `onExceeded` is told, so the request is answered 413 and its charge refunded.
 */
export function limitStream(body: ReadableStream<Uint8Array>, max: number, onExceeded: () => void): ReadableStream<Uint8Array> {
  let size = 0;
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        size += chunk.byteLength;
        if (size > max) {
          onExceeded();
          controller.error(tooLarge(max));
          return;
        }
        controller.enqueue(chunk);
      },
    }),
  );
}

/** A request body the charge reads: JSON, or a 400 naming `body`; nothing (no body) is undefined. */
export function parseJsonBody(body: Uint8Array | null): unknown {
  if (!body || body.byteLength === 0) return undefined;
  try {
    return JSON.parse(asBuffer(body).toString('utf8'));
  } catch {
    throw new ProblemError('invalid_request', 'the request body is not valid JSON', { field: 'body' });
  }
}
