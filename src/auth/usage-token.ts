import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Usage tokens: what a browser holds instead of an API key. An app's backend mints one for
 * its user's subject (POST /v1/usage-tokens, with the API key); the page then reads that
 * subject's usage with it (GET /v1/usage, GET /v1/usage/stream) and can do nothing else.
 *
 * A token is `qgu_<payload>.<signature>`: the payload is base64url JSON
 * `{v: 1, sub, scope: "usage:read", iat, exp}` (Unix seconds) and the signature the
 * base64url HMAC-SHA256 of `"qgu.<payload>"` under QG_USAGE_TOKEN_SECRET. Stateless, so
 * every gateway with the same secret accepts it; it cannot be revoked before it expires
 * (hence at most an hour), and changing the secret ends every token at once.
 */

export const USAGE_TOKEN_PREFIX = 'qgu_';
export const USAGE_TOKEN_SCOPE = 'usage:read';
/** A token lives 15 minutes unless asked otherwise, never more than an hour. */
export const USAGE_TOKEN_DEFAULT_TTL_SECONDS = 900;
export const USAGE_TOKEN_MAX_TTL_SECONDS = 3_600;
export const USAGE_TOKEN_MIN_TTL_SECONDS = 30;

const MAX_TOKEN_LENGTH = 1_024;
const SIGNATURE_BYTES = 32;

export interface UsageTokenClaims {
  subject: string;
  /** Unix seconds. */
  issuedAt: number;
  /** Unix seconds; the token is refused from then on. */
  expiresAt: number;
}

const sign = (secret: string, payload: string): Buffer => createHmac('sha256', secret).update(`qgu.${payload}`).digest();

export function mintUsageToken(secret: string, claims: UsageTokenClaims): string {
  const payload = Buffer.from(JSON.stringify({ v: 1, sub: claims.subject, scope: USAGE_TOKEN_SCOPE, iat: claims.issuedAt, exp: claims.expiresAt })).toString('base64url');
  return `${USAGE_TOKEN_PREFIX}${payload}.${sign(secret, payload).toString('base64url')}`;
}

/**
 * The claims of a token this secret signed that has not expired at `nowSeconds`, else null
 * (malformed, signed with another secret, another scope, or expired). The signature is
 * compared in constant time, before anything in the payload is trusted.
 */
export function verifyUsageToken(secret: string, token: string, nowSeconds: number): UsageTokenClaims | null {
  if (token.length > MAX_TOKEN_LENGTH || !token.startsWith(USAGE_TOKEN_PREFIX)) return null;
  const dot = token.lastIndexOf('.');
  if (dot <= USAGE_TOKEN_PREFIX.length) return null;
  const payload = token.slice(USAGE_TOKEN_PREFIX.length, dot);
  const presented = Buffer.from(token.slice(dot + 1), 'base64url');
  const expected = sign(secret, payload);
  if (presented.length !== SIGNATURE_BYTES || !timingSafeEqual(presented, expected)) return null;
  let claims: { v?: unknown; sub?: unknown; scope?: unknown; iat?: unknown; exp?: unknown };
  try {
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as typeof claims;
  } catch {
    return null;
  }
  const { v, sub, scope, iat, exp } = claims;
  if (v !== 1 || scope !== USAGE_TOKEN_SCOPE || typeof sub !== 'string') return null;
  if (typeof iat !== 'number' || typeof exp !== 'number' || !(exp > nowSeconds)) return null;
  return { subject: sub, issuedAt: iat, expiresAt: exp };
}
