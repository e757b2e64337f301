/**
 * A completed upstream response kept with its idempotency record, so a retry is answered
 * without calling the upstream again (an AI generation paid once is delivered again).
 */
export interface StoredResponse {
  status: number;
  headers: [string, string][];
  body: Buffer;
}

export function encodeStoredResponse(response: StoredResponse): string {
  return JSON.stringify({ s: response.status, h: response.headers, b: response.body.toString('base64') });
}

export function decodeStoredResponse(text: string): StoredResponse {
  const raw = JSON.parse(text) as { s: number; h: [string, string][]; b: string };
  return { status: raw.s, headers: raw.h, body: Buffer.from(raw.b, 'base64') };
}
