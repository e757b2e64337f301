import type { Context, MiddlewareHandler } from 'hono';
import type { Authenticator } from '../auth/authenticator.js';
import type { KeyOwner } from '../auth/key-store.js';
import { USAGE_TOKEN_PREFIX } from '../auth/usage-token.js';
import type { UsageTokenReader } from '../auth/usage-token-reader.js';
import type { Metrics } from '../observability/metrics.js';
import { ProblemError } from './problem.js';
import './context.js';

const CHALLENGE = { 'www-authenticate': 'Bearer realm="quotagate"' };

function presentedKey(authorization: string | undefined, apiKeyHeader: string | undefined): string | undefined {
  if (authorization !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    return match?.[1];
  }
  return apiKeyHeader?.trim();
}

/** `x-api-key` (Anthropic's clients), else `x-goog-api-key` (Google's): where provider SDKs put the key they are given. */
const apiKeyHeaderOf = (c: Context): string | undefined => c.req.header('x-api-key') ?? c.req.header('x-goog-api-key');

const unavailable = (c: Context, metrics: Metrics, err: unknown, what: string) => {
  metrics.backendErrors.inc({ backend: 'postgres' });
  c.get('log').warn({ err }, `${what} lookup failed`);
  return new ProblemError('backend_unavailable', `${what}s cannot be checked right now; retry shortly`, {}, { 'retry-after': '1' });
};

async function keyOwner(c: Context, authenticator: Authenticator, metrics: Metrics, secret: string): Promise<KeyOwner> {
  let owner;
  try {
    owner = await authenticator.authenticate(secret);
  } catch (err) {
    throw unavailable(c, metrics, err, 'API key');
  }
  if (!owner) throw new ProblemError('unauthorized', 'the API key is unknown or revoked', {}, CHALLENGE);
  return owner;
}

function presented(c: Context, accepts: string): string {
  const secret = presentedKey(c.req.header('authorization'), apiKeyHeaderOf(c));
  if (!secret) throw new ProblemError('unauthorized', `${accepts} is required: send "Authorization: Bearer <key>" or "x-api-key: <key>"`, {}, CHALLENGE);
  return secret;
}

/** API-key authentication (Authorization: Bearer, or x-api-key); sets `owner`. */
export function authenticate(authenticator: Authenticator, metrics: Metrics): MiddlewareHandler {
  return async function authenticateMiddleware(c, next) {
    c.set('owner', await keyOwner(c, authenticator, metrics, presented(c, 'an API key')));
    await next();
  };
}

/**
 * For the read-only usage endpoints: an API key, or a usage token (`qgu_…`, minted by the
 * app's backend for one subject) as `Authorization: Bearer`. A token that is expired,
 * signed with another secret, or whose subject is gone is 401; with tokens off (no
 * QG_USAGE_TOKEN_SECRET) every token is 401.
 */
export function authenticateReader(authenticator: Authenticator, metrics: Metrics, tokens: UsageTokenReader | null): MiddlewareHandler {
  return async function authenticateReaderMiddleware(c, next) {
    const secret = presented(c, 'an API key or a usage token');
    if (!secret.startsWith(USAGE_TOKEN_PREFIX)) {
      c.set('owner', await keyOwner(c, authenticator, metrics, secret));
      c.set('currentSubject', async () => (await authenticator.authenticate(secret))?.subject ?? null);
      return next();
    }
    let read;
    try {
      read = tokens ? await tokens.read(secret) : null;
    } catch (err) {
      throw unavailable(c, metrics, err, 'usage token');
    }
    if (!read) throw new ProblemError('unauthorized', 'the usage token is invalid or has expired', {}, CHALLENGE);
    c.set('owner', { keyId: `usage-token:${read.claims.issuedAt}`, subject: read.subject });
    c.set('usageTokenExpiresAt', read.claims.expiresAt * 1000);
    c.set('currentSubject', async () => (await tokens!.read(secret))?.subject ?? null);
    await next();
  };
}
