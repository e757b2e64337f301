import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * HMAC-SHA256 request signatures, `t=<unix seconds>,v1=<hex>` over `"<t>.<body>"` (SPEC
 * "Billing webhooks"). quotagate signs its outgoing notifications with it and checks the
 * inbound billing webhooks with it. The timestamp is part of what is signed, so a captured
 * request cannot be replayed once it is older than the tolerance.
 */

/** Default tolerance, both ways: 5 minutes (SPEC). */
export const SIGNATURE_TOLERANCE_SECONDS = 300;

const SHA256_HEX = /^[0-9a-f]{64}$/i;
const UNIX_SECONDS = /^\d{1,12}$/;

function digest(secret: string, timestamp: string, body: string | Uint8Array): Buffer {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest();
}

/** The signature header value for `body` sent at `nowSeconds` (whole Unix seconds). */
export function signPayload(secret: string, body: string | Uint8Array, nowSeconds: number): string {
  const t = String(Math.floor(nowSeconds));
  return `t=${t},v1=${digest(secret, t, body).toString('hex')}`;
}

/**
 * Whether `header` is a valid signature of `body` by `secret`: exactly one `t`, at least one
 * `v1` (several are allowed, e.g. while a secret is rotated; one match is enough; unknown
 * schemes are ignored), and a timestamp within `toleranceSeconds` of `nowSeconds` either way.
 * Anything malformed is simply not valid; comparisons are constant-time.
 */
export function verifySignature(
  secret: string,
  header: string | null | undefined,
  body: string | Uint8Array,
  nowSeconds: number,
  toleranceSeconds = SIGNATURE_TOLERANCE_SECONDS,
): boolean {
  if (typeof header !== 'string' || header.length === 0 || header.length > 4096) return false;
  let timestamp: string | undefined;
  const candidates: Buffer[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) return false;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't') {
      if (timestamp !== undefined || !UNIX_SECONDS.test(value)) return false;
      timestamp = value;
    } else if (key === 'v1') {
      if (SHA256_HEX.test(value)) candidates.push(Buffer.from(value, 'hex'));
    }
  }
  if (timestamp === undefined || candidates.length === 0) return false;
  if (Math.abs(Math.floor(nowSeconds) - Number(timestamp)) > toleranceSeconds) return false;

  const expected = digest(secret, timestamp, body);
  let valid = false;
  // Every candidate is compared (no early exit), each on equal-length buffers.
  for (const candidate of candidates) {
    if (candidate.length === expected.length && timingSafeEqual(candidate, expected)) valid = true;
  }
  return valid;
}
