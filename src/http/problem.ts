/**
 * RFC 9457 problem details with quotagate's stable codes (SPEC "HTTP interface"): one
 * catalogue of code → status and title. Bodies are flat: extra members sit beside `code`.
 */
export const PROBLEMS = {
  invalid_request: { status: 400, title: 'Invalid request' },
  unauthorized: { status: 401, title: 'Unauthorized' },
  quota_exceeded: { status: 402, title: 'Quota exceeded' },
  forbidden: { status: 403, title: 'Forbidden' },
  not_found: { status: 404, title: 'Not found' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  idempotency_in_flight: { status: 409, title: 'Idempotent request still in flight' },
  downgrade_blocked: { status: 409, title: 'Downgrade blocked' },
  already_exists: { status: 409, title: 'Already exists' },
  not_parked: { status: 409, title: 'Dead letter not parked' },
  payload_too_large: { status: 413, title: 'Payload too large' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type' },
  idempotency_mismatch: { status: 422, title: 'Idempotency key reused for a different request' },
  ledger_refused: { status: 422, title: 'The ledger refused the event' },
  rate_limited: { status: 429, title: 'Too many requests' },
  internal_error: { status: 500, title: 'Internal error' },
  upstream_error: { status: 502, title: 'Upstream error' },
  backend_unavailable: { status: 503, title: 'Backend unavailable' },
  upstream_timeout: { status: 504, title: 'Upstream timeout' },
} as const;

export type ProblemCode = keyof typeof PROBLEMS;

export const PROBLEM_TYPE_BASE = 'https://quotagate.dev/problems/';

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  code: ProblemCode;
  detail: string;
  [member: string]: unknown;
}

export function problemBody(code: ProblemCode, detail: string, extra: Record<string, unknown> = {}): ProblemBody {
  const { status, title } = PROBLEMS[code];
  return { type: `${PROBLEM_TYPE_BASE}${code}`, title, status, code, detail, ...extra };
}

/** Thrown anywhere in a request; the app's error handler renders it. */
export class ProblemError extends Error {
  readonly body: ProblemBody;

  constructor(
    code: ProblemCode,
    detail: string,
    extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
    this.name = 'ProblemError';
    this.body = problemBody(code, detail, extra);
  }

  get status(): number {
    return this.body.status;
  }
}

/** A problem+json Response. */
export function problemResponse(body: ProblemBody, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status: body.status,
    headers: { 'content-type': 'application/problem+json', ...headers },
  });
}
