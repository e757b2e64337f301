import type { Logger } from 'pino';
import type { KeyOwner } from '../auth/key-store.js';
import type { SubjectRecord } from '../subjects/subject.js';

declare module 'hono' {
  interface ContextVariableMap {
    /** The gateway's id for this request (UUIDv7), also in the x-request-id response header. */
    requestId: string;
    /** The request's logger: every line carries the request id. */
    log: Logger;
    /** The API key's owner, set by `authenticate`. */
    owner: KeyOwner;
    /** Set when a usage token authenticated the request: when it expires (ms), which ends a usage stream. */
    usageTokenExpiresAt: number;
    /**
     * Set on the usage endpoints: the subject as the credential shows it now (cached briefly,
     * dropped on plan changes), or null once the key is revoked, the token expired or the
     * subject deleted. A long-lived usage stream re-reads it for every snapshot.
     */
    currentSubject: () => Promise<SubjectRecord | null>;
  }
}
