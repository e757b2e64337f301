import type { ProblemBody, ProblemCode } from './types.js';

/**
 * Every failure of a call, with a `code` to switch on: the gateway's problem+json codes
 * (`unauthorized`, `idempotency_in_flight`, `backend_unavailable`, ...), or `timeout`,
 * `network` and `bad_response` for answers that never came or could not be read.
 * Denials (`quota_exceeded`, `rate_limited`) are not errors: they come back as values.
 */
export type ErrorCode = ProblemCode | 'timeout' | 'network' | 'bad_response';

export class QuotagateError extends Error {
  override name = 'QuotagateError';

  constructor(
    readonly code: ErrorCode,
    message: string,
    /** The HTTP status, when the gateway answered. */
    readonly status: number | null = null,
    /** The problem+json body, when the gateway sent one. */
    readonly problem: ProblemBody | null = null,
    /** From Retry-After, when sent (backend_unavailable, idempotency_in_flight). */
    readonly retryAfterSeconds: number | null = null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** Whether a retry with the same Idempotency-Key may succeed. */
  get retryable(): boolean {
    return this.code === 'timeout' || this.code === 'network' || this.code === 'backend_unavailable';
  }
}

/** Narrows an unknown error to a QuotagateError, optionally of one code. */
export function isQuotagateError(err: unknown, code?: ErrorCode): err is QuotagateError {
  return err instanceof QuotagateError && (code === undefined || err.code === code);
}
