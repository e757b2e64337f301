import { QuotagateError } from './errors.js';
import type { ProblemBody } from './types.js';

export interface TransportOptions {
  /** The gateway, e.g. https://quota.example.com. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer …`: an API key (server side) or a usage token (browser). */
  credential: () => string | Promise<string>;
  /** Each attempt's limit, ms (default 5000). */
  timeoutMs?: number;
  /** Further attempts after a timeout, a network error or a 503 (default 2); only for calls safe to repeat. */
  retries?: number;
  /** First backoff, ms (default 100), doubled per attempt, with jitter. */
  retryDelayMs?: number;
  fetch?: typeof fetch;
}

export interface Answer {
  status: number;
  headers: Headers;
  body: unknown;
}

export interface Call {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  body?: unknown;
  /** Sent as Idempotency-Key, the same on every attempt. */
  idempotencyKey?: string;
  /** Whether a repeat cannot apply twice (a GET, an idempotency key, an id-based end): only then is it retried. */
  repeatable: boolean;
  signal?: AbortSignal;
}

const MAX_RETRY_WAIT_MS = 5_000;

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(timer), reject(signal.reason)), { once: true });
  });

/** Retry-After in seconds (delta-seconds only; the gateway sends no dates). */
export function retryAfterOf(headers: Headers): number | null {
  const value = headers.get('retry-after');
  return value !== null && /^\d+$/.test(value) ? Number(value) : null;
}

/** fetch() with a timeout per attempt, retries that reuse one Idempotency-Key, and problem+json read into QuotagateErrors. */
export class Transport {
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly retryDelayMs: number;
  private readonly fetch: typeof fetch;
  private readonly baseUrl: string;

  constructor(private readonly options: TransportOptions) {
    this.timeoutMs = options.timeoutMs ?? 5_000;
    this.retries = options.retries ?? 2;
    this.retryDelayMs = options.retryDelayMs ?? 100;
    this.fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
  }

  /** Sends the call; answers whatever status the gateway gave, except that a 503 after the last attempt throws. */
  async send(call: Call): Promise<Answer> {
    const attempts = call.repeatable ? this.retries + 1 : 1;
    for (let attempt = 1; ; attempt++) {
      let answer: Answer;
      try {
        answer = await this.attempt(call);
      } catch (err) {
        if (!(err instanceof QuotagateError) || !err.retryable || attempt >= attempts) throw err;
        await sleep(this.backoff(attempt), call.signal);
        continue;
      }
      if (answer.status === 503 && attempt < attempts) {
        const after = retryAfterOf(answer.headers);
        await sleep(Math.min(MAX_RETRY_WAIT_MS, Math.max(this.backoff(attempt), (after ?? 0) * 1000)), call.signal);
        continue;
      }
      return answer;
    }
  }

  private backoff(attempt: number): number {
    const base = this.retryDelayMs * 2 ** (attempt - 1);
    return Math.min(MAX_RETRY_WAIT_MS, base / 2 + Math.random() * base);
  }

  private async attempt(call: Call): Promise<Answer> {
    const headers: Record<string, string> = { authorization: `Bearer ${await this.options.credential()}`, accept: 'application/json' };
    if (call.body !== undefined) headers['content-type'] = 'application/json';
    if (call.idempotencyKey !== undefined) headers['idempotency-key'] = call.idempotencyKey;
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const signal = call.signal ? AbortSignal.any([call.signal, timeout]) : timeout;
    let response: Response;
    try {
      response = await this.fetch(`${this.baseUrl}${call.path}`, {
        method: call.method,
        headers,
        body: call.body === undefined ? undefined : JSON.stringify(call.body),
        signal,
      });
    } catch (err) {
      // The caller's own abort is theirs to handle: it is passed on as it came.
      if (call.signal?.aborted) throw call.signal.reason;
      if (timeout.aborted) throw new QuotagateError('timeout', `${call.method} ${call.path}: no answer within ${this.timeoutMs} ms`, null, null, null, { cause: err });
      throw new QuotagateError('network', `${call.method} ${call.path}: ${(err as Error).message}`, null, null, null, { cause: err });
    }
    let text: string;
    try {
      text = await response.text();
    } catch (err) {
      if (call.signal?.aborted) throw call.signal.reason;
      const code = timeout.aborted ? 'timeout' : 'network';
      throw new QuotagateError(code, `${call.method} ${call.path}: the answer broke off`, response.status, null, null, { cause: err });
    }
    let body: unknown = null;
    if (text !== '') {
      try {
        body = JSON.parse(text);
      } catch (err) {
        throw new QuotagateError('bad_response', `${call.method} ${call.path}: answered ${response.status} with a body that is not JSON`, response.status, null, null, {
          cause: err,
        });
      }
    }
    return { status: response.status, headers: response.headers, body };
  }
}

/** The error an answer that is not what the call expects stands for: its problem, or a bad response. */
export function answerError(call: Pick<Call, 'method' | 'path'>, answer: Answer): QuotagateError {
  const problem = answer.body as ProblemBody | null;
  if (problem && typeof problem === 'object' && typeof problem.code === 'string') {
    return new QuotagateError(problem.code, problem.detail ?? problem.title, answer.status, problem, retryAfterOf(answer.headers));
  }
  return new QuotagateError('bad_response', `${call.method} ${call.path}: unexpected answer ${answer.status}`, answer.status);
}
