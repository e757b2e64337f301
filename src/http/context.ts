import type { Logger } from 'pino';
import type { KeyOwner } from '../auth/key-store.js';

declare module 'hono' {
  interface ContextVariableMap {
    /** The gateway's id for this request (UUIDv7), also in the x-request-id response header. */
    requestId: string;
    /** The request's logger: every line carries the request id. */
    log: Logger;
    /** The API key's owner, set by `authenticate`. */
    owner: KeyOwner;
  }
}
