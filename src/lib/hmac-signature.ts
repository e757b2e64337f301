import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * HMAC-SHA256 request signatures: a header holding a timestamp and one or more hex HMACs of
 * "<timestamp><joiner><body>". quotagate signs its outgoing notifications with it and checks
 * every inbound billing webhook with it. The timestamp is part of what is signed, so a
 * captured request cannot be replayed once it is older than the tolerance.
 *
 * The schemes differ only in spelling: quotagate's own (SPEC "Billing webhooks") is Stripe's,
 * `t=<unix>,v1=<hex>` over `"<t>.<body>"`; Paddle's is `ts=<unix>;h1=<hex>` over `"<ts>:<body>"`.
 */
export interface SignatureScheme {
  /** Between the header's `key=value` parts. */
  separator: string;
  timestampKey: string;
  signatureKey: string;
  /** Between the timestamp and the body in the signed text. */
  joiner: string;
}

/** quotagate's scheme, which is also Stripe's `Stripe-Signature`. */
export const QUOTAGATE_SCHEME: SignatureScheme = { separator: ',', timestampKey: 't', signatureKey: 'v1', joiner: '.' };
export const STRIPE_SCHEME = QUOTAGATE_SCHEME;
/** Paddle Billing's `Paddle-Signature`. */
export const PADDLE_SCHEME: SignatureScheme = { separator: ';', timestampKey: 'ts', signatureKey: 'h1', joiner: ':' };

/** Default tolerance, both ways: 5 minutes (SPEC). */
export const SIGNATURE_TOLERANCE_SECONDS = 300;

const SHA256_HEX = /^[0-9a-f]{64}$/i;
const UNIX_SECONDS = /^\d{1,12}$/;

function digest(secret: string, timestamp: string, body: string | Uint8Array, scheme: SignatureScheme): Buffer {
  return createHmac('sha256', secret).update(`${timestamp}${scheme.joiner}`).update(body).digest();
}

/** The signature header value for `body` sent at `nowSeconds` (whole Unix seconds). */
export function signPayload(secret: string, body: string | Uint8Array, nowSeconds: number, scheme: SignatureScheme = QUOTAGATE_SCHEME): string {
  const t = String(Math.floor(nowSeconds));
  return `${scheme.timestampKey}=${t}${scheme.separator}${scheme.signatureKey}=${digest(secret, t, body, scheme).toString('hex')}`;
}

/**
 * Whether `header` is a valid signature of `body` by one of `secrets`: exactly one
 * timestamp, at least one signature (several are allowed while a provider rotates its
 * secret; unknown keys are ignored), a timestamp within `toleranceSeconds` of `nowSeconds`
 * either way, and one signature made with one of the secrets (several are configured while
 * the operator rotates). Anything malformed is simply not valid; comparisons are constant-time.
 */
export function verifySignature(
  secrets: string | readonly string[],
  header: string | null | undefined,
  body: string | Uint8Array,
  nowSeconds: number,
  toleranceSeconds = SIGNATURE_TOLERANCE_SECONDS,
  scheme: SignatureScheme = QUOTAGATE_SCHEME,
): boolean {
  if (typeof header !== 'string' || header.length === 0 || header.length > 4096) return false;
  let timestamp: string | undefined;
  const candidates: Buffer[] = [];
  for (const part of header.split(scheme.separator)) {
    const eq = part.indexOf('=');
    if (eq <= 0) return false;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === scheme.timestampKey) {
      if (timestamp !== undefined || !UNIX_SECONDS.test(value)) return false;
      timestamp = value;
    } else if (key === scheme.signatureKey) {
      if (SHA256_HEX.test(value)) candidates.push(Buffer.from(value, 'hex'));
    }
  }
  if (timestamp === undefined || candidates.length === 0) return false;
  if (Math.abs(Math.floor(nowSeconds) - Number(timestamp)) > toleranceSeconds) return false;

  let valid = false;
  // Every secret and every candidate is compared (no early exit), each on equal-length buffers.
  for (const secret of typeof secrets === 'string' ? [secrets] : secrets) {
    const expected = digest(secret, timestamp, body, scheme);
    for (const candidate of candidates) {
      if (candidate.length === expected.length && timingSafeEqual(candidate, expected)) valid = true;
    }
  }
  return valid;
}
