import { userInfo } from 'node:os';

/**
 * A small client of the gateway's admin API (`/admin/v1`), for the CLI's admin shortcuts.
 * Answers are returned as the gateway sent them (parsed JSON); an error answer throws
 * AdminApiError carrying the problem+json body.
 */

/** An RFC 9457 problem as the gateway sends it (`code` is the stable part). */
export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  code?: string;
  detail?: string;
  [field: string]: unknown;
}

/** The gateway answered with an error status. */
export class AdminApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem,
  ) {
    super(`${status} ${problem.code ?? problem.title ?? 'error'}${problem.detail ? `: ${problem.detail}` : ''}`);
    this.name = 'AdminApiError';
  }
}

/** No answer at all: the gateway is down, or the URL is wrong. */
export class GatewayUnreachableError extends Error {
  constructor(url: string, cause: unknown) {
    // fetch() says "fetch failed"; the reason (ECONNREFUSED, a bad port, a timeout) is its cause.
    const inner = (cause as { cause?: { code?: string; message?: string } }).cause;
    const reason = inner?.code ?? inner?.message ?? (cause as Error).message;
    super(`cannot reach the gateway at ${url} (${reason}); is it running? Set --url or QUOTAGATE_URL`);
    this.name = 'GatewayUnreachableError';
  }
}

export interface NewSubject {
  id: string;
  plan: string;
  anchor?: string;
}

export interface SubjectChange {
  plan?: string;
  anchor?: string;
  force?: boolean;
  reason?: string;
}

export interface NewGrant {
  metric: string;
  amount: number;
  expires_at?: string;
  reason: string;
}

/** Names the CLI and the OS user in the audit log ("admin:cli:alice"), when the name is plain ASCII. */
const user = (() => {
  try {
    return userInfo().username;
  } catch {
    return ''; // a uid without a passwd entry (some containers)
  }
})();
const ACTOR: Record<string, string> = /^[A-Za-z0-9._-]{1,64}$/.test(user) ? { 'x-quotagate-actor': `cli:${user}` } : {};

/** How long one admin call may take; a reset or a plan change touches Redis and Postgres, nothing slow. */
const REQUEST_TIMEOUT_MS = 30_000;

export class AdminClient {
  private readonly base: string;

  constructor(
    baseUrl: string,
    private readonly token: string,
  ) {
    this.base = `${baseUrl.replace(/\/+$/, '')}/admin/v1`;
  }

  createSubject(subject: NewSubject) {
    return this.call('POST', '/subjects', subject);
  }

  /** The subject's plan, period and usage per metric. */
  getSubject(id: string) {
    return this.call('GET', subjectPath(id));
  }

  updateSubject(id: string, change: SubjectChange) {
    return this.call('PATCH', subjectPath(id), change);
  }

  deleteSubject(id: string) {
    return this.call('DELETE', subjectPath(id));
  }

  /** Usage per day and hour, levels and forecasts. */
  history(id: string, query: { days?: number; metric?: string }) {
    const search = new URLSearchParams(Object.entries(query).flatMap(([k, v]): [string, string][] => (v === undefined ? [] : [[k, String(v)]])));
    return this.call('GET', `${subjectPath(id, 'history')}${search.size > 0 ? `?${search}` : ''}`);
  }

  createKey(subject: string, options: { name?: string }) {
    return this.call('POST', subjectPath(subject, 'keys'), options);
  }

  listKeys(subject: string) {
    return this.call('GET', subjectPath(subject, 'keys'));
  }

  revokeKey(subject: string, keyId: string) {
    return this.call('DELETE', subjectPath(subject, 'keys', keyId));
  }

  reset(subject: string, body: { metrics?: string[]; reason: string }) {
    return this.call('POST', subjectPath(subject, 'reset'), body);
  }

  createGrant(subject: string, grant: NewGrant) {
    return this.call('POST', subjectPath(subject, 'grants'), grant);
  }

  adjust(subject: string, body: { metric: string; delta: number; reason: string }) {
    return this.call('POST', subjectPath(subject, 'adjust'), body);
  }

  /** Queues a reconciliation run; answers `{job_id}`. */
  triggerReconciliation() {
    return this.call('POST', '/reconciliations');
  }

  /** Ledger events Postgres refused (newest first). */
  listDeadLetters(filter: { state?: string; subject?: string }) {
    return this.call('GET', `/dead-letters${query(filter)}`);
  }

  /** Writes one parked dead letter to the ledger. */
  replayDeadLetter(eventId: string) {
    return this.call('POST', `/dead-letters/${encodeURIComponent(eventId)}/replay`);
  }

  /** Writes every parked dead letter (up to 500) to the ledger. */
  replayDeadLetters() {
    return this.call('POST', '/dead-letters/replay?limit=500');
  }

  /** Links a Stripe or Paddle customer to a subject. */
  linkCustomer(provider: string, customer: string, subject: string) {
    return this.call('PUT', `/billing/customers/${encodeURIComponent(provider)}/${encodeURIComponent(customer)}`, { subject });
  }

  unlinkCustomer(provider: string, customer: string) {
    return this.call('DELETE', `/billing/customers/${encodeURIComponent(provider)}/${encodeURIComponent(customer)}`);
  }

  listCustomers(filter: { provider?: string; subject?: string }) {
    return this.call('GET', `/billing/customers${query(filter)}`);
  }

  listBillingEvents(filter: { provider?: string; subject?: string; status?: string }) {
    return this.call('GET', `/billing/events${query(filter)}`);
  }

  listUnmatched(filter: { provider?: string }) {
    return this.call('GET', `/billing/unmatched${query(filter)}`);
  }

  private call(method: string, path: string, body?: unknown): Promise<unknown> {
    return requestJson(method, `${this.base}${path}`, { authorization: `Bearer ${this.token}`, ...ACTOR }, body, this.base);
  }
}

/**
 * One JSON request to the gateway: the parsed answer, or undefined for an empty one (204).
 * An error answer throws AdminApiError with its problem; no answer at all, GatewayUnreachableError.
 */
export async function requestJson(method: string, url: string, extraHeaders: Record<string, string>, body?: unknown, where = url): Promise<unknown> {
  const headers: Record<string, string> = { accept: 'application/json, application/problem+json', ...extraHeaders };
  if (body !== undefined && headers['content-type'] === undefined) headers['content-type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (err) {
    throw new GatewayUnreachableError(where, err);
  }
  const text = await response.text();
  const parsed: unknown = text === '' ? undefined : parseJson(text);
  if (!response.ok) {
    // A proxy in between may answer with HTML or plain text: keep it as the detail.
    const problem = typeof parsed === 'object' && parsed !== null ? (parsed as Problem) : { status: response.status, detail: text || response.statusText };
    throw new AdminApiError(response.status, problem);
  }
  return parsed;
}

const query = (params: Record<string, string | undefined>) => {
  const set = Object.entries(params).filter((e): e is [string, string] => e[1] !== undefined);
  return set.length === 0 ? '' : `?${new URLSearchParams(set).toString()}`;
};

function subjectPath(id: string, ...rest: string[]): string {
  return ['/subjects', id, ...rest].map((part, i) => (i === 0 ? part : encodeURIComponent(part))).join('/');
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
