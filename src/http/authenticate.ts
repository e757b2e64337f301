import type { MiddlewareHandler } from 'hono';
import type { Authenticator } from '../auth/authenticator.js';
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

/** API-key authentication (Authorization: Bearer, or x-api-key); sets `owner`. */
export function authenticate(authenticator: Authenticator, metrics: Metrics): MiddlewareHandler {
  return async function authenticateMiddleware(c, next) {
    const secret = presentedKey(c.req.header('authorization'), c.req.header('x-api-key'));
    if (!secret) {
      throw new ProblemError('unauthorized', 'an API key is required: send "Authorization: Bearer <key>" or "x-api-key: <key>"', {}, CHALLENGE);
    }
    let owner;
    try {
      owner = await authenticator.authenticate(secret);
    } catch (err) {
      metrics.backendErrors.inc({ backend: 'postgres' });
      c.get('log').warn({ err }, 'API key lookup failed');
      throw new ProblemError('backend_unavailable', 'API keys cannot be checked right now; retry shortly', {}, { 'retry-after': '1' });
    }
    if (!owner) throw new ProblemError('unauthorized', 'the API key is unknown or revoked', {}, CHALLENGE);
    c.set('owner', owner);
    await next();
  };
}
