import { ProblemError } from './problem.js';

/** 1–255 visible ASCII characters except "|" (it separates the parts of Redis keys). */
export const IDEMPOTENCY_KEY_PATTERN = /^[!-{}~]{1,255}$/;

/** The request's Idempotency-Key, or null; a malformed one is a 400 naming the header. */
export function idempotencyKeyOf(headers: Headers): string | null {
  const key = headers.get('idempotency-key');
  if (key === null) return null;
  if (!IDEMPOTENCY_KEY_PATTERN.test(key)) {
    throw new ProblemError('invalid_request', 'Idempotency-Key must be 1–255 visible ASCII characters, without "|"', { field: 'Idempotency-Key' });
  }
  return key;
}

/** For JSON APIs: the Idempotency-Key header or the body's `idempotency_key`; both must agree. */
export function apiIdempotencyKey(headers: Headers, fromBody: string | undefined): string | undefined {
  const header = idempotencyKeyOf(headers) ?? undefined;
  if (header !== undefined && fromBody !== undefined && header !== fromBody) {
    throw new ProblemError('invalid_request', 'the Idempotency-Key header and idempotency_key differ', { field: 'idempotency_key' });
  }
  return header ?? fromBody;
}
