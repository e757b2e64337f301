import { clientResponseHeaders } from './headers.js';
import type { UpstreamResponse } from './upstream-client.js';

/**
 * A completed upstream response kept with its idempotency record, so a retry is answered
 * without calling the upstream again (an AI generation paid once is delivered again).
 */
export interface StoredResponse {
  status: number;
  headers: [string, string][];
  body: Buffer;
}

function encodeStoredResponse(response: StoredResponse): string {
  return JSON.stringify({ s: response.status, h: response.headers, b: response.body.toString('base64') });
}

function decodeStoredResponse(text: string): StoredResponse {
  const raw = JSON.parse(text) as { s: number; h: [string, string][]; b: string };
  return { status: raw.s, headers: raw.h, body: Buffer.from(raw.b, 'base64') };
}

/** Statuses whose responses carry no body. */
export const NO_BODY_STATUSES = new Set([204, 205, 304]);

/** A completed upstream response as kept for replays: the client's headers, less its length (the body is re-framed). */
export function storeUpstreamResponse(upstream: UpstreamResponse, body: Buffer): string {
  return encodeStoredResponse({
    status: upstream.status,
    headers: [...clientResponseHeaders(upstream.headers)].filter(([name]) => name !== 'content-length'),
    body,
  });
}

/** A kept response answered again, with this request's own headers (RateLimit, replayed) over its own. */
export function replayStoredResponse(stored: string, extraHeaders: Record<string, string>): Response {
  const response = decodeStoredResponse(stored);
  const headers = new Headers(response.headers);
  for (const [name, value] of Object.entries(extraHeaders)) headers.set(name, value);
  return new Response(NO_BODY_STATUSES.has(response.status) ? null : new Uint8Array(response.body), { status: response.status, headers });
}
