import { REQUEST_ID_HEADER } from '../http/request-context.js';
/** Headers meaningful only on one connection (RFC 9110 §7.6.1), never forwarded. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/**
 * `Expect: 100-continue` asks the next hop to confirm before the body is sent: the gateway
 * (Node's server) answers it to the client itself, and undici refuses to send it upstream
 * ("expect header not supported"), so it is consumed here like a hop-by-hop header.
 */
const ANSWERED_HERE = new Set(['expect']);

/** The gateway's own credentials: they authenticate the caller here and go no further. */
const GATEWAY_CREDENTIALS = new Set(['authorization', 'x-api-key', 'x-goog-api-key']);

/** Headers the gateway sets upstream; a client's copies are dropped so they cannot be forged. */
export const SUBJECT_HEADER = 'x-quotagate-subject';
const GATEWAY_PREFIX = 'x-quotagate-';

function connectionTokens(headers: Headers): Set<string> {
  const value = headers.get('connection');
  return new Set(value ? value.split(',').map((t) => t.trim().toLowerCase()) : []);
}

/**
 * The headers sent upstream: the client's, minus hop-by-hop headers, the gateway's
 * credentials, host and length (set anew for the upstream), plus the subject and request id.
 * `identity`: ask for an uncompressed body because the gateway must read it (usage).
 */
export function upstreamRequestHeaders(incoming: Headers, context: { subjectId: string; requestId: string; clientIp?: string; identity: boolean }): Record<string, string> {
  const dropped = connectionTokens(incoming);
  const out: Record<string, string> = {};
  incoming.forEach((value, name) => {
    if (HOP_BY_HOP.has(name) || dropped.has(name) || GATEWAY_CREDENTIALS.has(name) || ANSWERED_HERE.has(name)) return;
    if (name === 'host' || name === 'content-length' || name.startsWith(GATEWAY_PREFIX) || name === REQUEST_ID_HEADER) return;
    out[name] = value;
  });
  out[SUBJECT_HEADER] = context.subjectId;
  out[REQUEST_ID_HEADER] = context.requestId;
  if (context.clientIp) {
    const prior = incoming.get('x-forwarded-for');
    out['x-forwarded-for'] = prior ? `${prior}, ${context.clientIp}` : context.clientIp;
  }
  if (context.identity) out['accept-encoding'] = 'identity';
  return out;
}

/** The upstream's response headers as the client gets them (undici's raw header map). */
export function clientResponseHeaders(upstream: Record<string, string | string[] | undefined>): Headers {
  const out = new Headers();
  const connection = upstream.connection;
  const dropped = new Set((Array.isArray(connection) ? connection.join(',') : (connection ?? '')).split(',').map((t) => t.trim().toLowerCase()));
  for (const [name, value] of Object.entries(upstream)) {
    if (value === undefined || HOP_BY_HOP.has(name) || dropped.has(name)) continue;
    if (Array.isArray(value)) for (const v of value) out.append(name, v);
    else out.set(name, value);
  }
  return out;
}
