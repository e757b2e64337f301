import type { MiddlewareHandler } from 'hono';
import type { Logger } from 'pino';
import { newId } from '../lib/ids.js';
import './context.js';

/** The request id header: a client's is logged, the gateway's own is answered and sent upstream. */
export const REQUEST_ID_HEADER = 'x-request-id';

/**
 * Gives every request an id of the gateway's own and a logger that carries it. A client's
 * x-request-id is only logged: ids seed ledger event ids, so they must be unique.
 */
export function requestContext(logger: Logger): MiddlewareHandler {
  return async function requestContextMiddleware(c, next) {
    const requestId = newId();
    const clientRequestId = c.req.header(REQUEST_ID_HEADER)?.slice(0, 128);
    c.set('requestId', requestId);
    c.set('log', logger.child({ req: requestId, ...(clientRequestId ? { client_req: clientRequestId } : {}) }));
    await next();
    c.res.headers.set(REQUEST_ID_HEADER, requestId);
  };
}
