import { createHash } from 'node:crypto';

/**
 * Identifies "the same request" for an Idempotency-Key: route, method, path with query, and
 * the body's bytes. A key reused with anything else is a mismatch (422).
 */
export function requestFingerprint(parts: { route: string; method: string; pathAndQuery: string; body: Uint8Array | null }): string {
  const hash = createHash('sha256').update(`${parts.route}\n${parts.method}\n${parts.pathAndQuery}\n`);
  if (parts.body) hash.update(parts.body);
  return hash.digest('base64url');
}
