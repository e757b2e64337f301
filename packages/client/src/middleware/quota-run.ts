import type { QuotagateClient } from '../client.js';
import { isQuotagateError } from '../errors.js';
import type { Charge, Denied, MetricUsage, RateLimitFields } from '../types.js';

/** What the middleware of every framework takes; `Req` is the framework's request (Hono Context, Express Request, Fetch Request). */
export interface QuotaOptions<Req> {
  /** The client of the subject this request is for (with that subject's API key), or how to find it from the request. */
  client: QuotagateClient | ((req: Req) => QuotagateClient | Promise<QuotagateClient>);
  /**
   * What the request costs, reserved before the handler runs (all or nothing): refunded if the
   * handler throws or answers 5xx, else settled — to the held amounts, or to what the handler
   * reports with `quota.report(...)`.
   */
  charges?: Charge[] | ((req: Req) => Charge[] | Promise<Charge[]>);
  /** Gauges lowered after the handler answers 2xx (delete routes), e.g. `[{ metric: 'projects', amount: 1 }]`. */
  release?: Charge[] | ((req: Req) => Charge[] | Promise<Charge[]>);
  /** How long the reservation lives if this process dies before settling it (default: the gateway's). */
  ttlSeconds?: number;
  /** The request's idempotency key; default: its `Idempotency-Key` header. A retry with the same key is charged once. */
  idempotencyKey?: (req: Req) => string | null | undefined;
  /** When the gateway cannot decide (down, timed out): `closed` answers 503 (default), `open` runs the handler unmetered. */
  whenUnavailable?: 'closed' | 'open';
  /** Largest text response kept with the idempotency key, so a retry gets it without running the handler again (default 64 KiB). */
  maxStoredResponseBytes?: number;
  /** Told when settling, refunding or releasing failed after the answer was decided (default: console.error). */
  onError?: (err: unknown, step: 'settle' | 'refund' | 'release') => void;
}

/** What the handler can read (and report) of the decision made before it ran. */
export interface QuotaContext {
  /** The reservation holding the charge; null when nothing was charged (no charges, a replay, unmetered). */
  readonly reservationId: string | null;
  /** The charged metrics' usage after the charge. */
  readonly metrics: readonly MetricUsage[];
  /** A retry of a request already done whose response was not kept: the handler runs again as a new request, charged (its key is not reused). */
  readonly replayed: boolean;
  /** The gateway could not decide and `whenUnavailable: 'open'` let the request through. */
  readonly unmetered: boolean;
  readonly rateLimit: RateLimitFields;
  /** What the work actually used, settled instead of what was reserved: a number for a one-metric charge, else metric → amount. */
  report(actual: number | Record<string, number>): void;
}

/** A response as kept for replays: status, headers and a text body. */
interface StoredResponse {
  s: number;
  h: [string, string][];
  b: string;
}

const DEFAULT_MAX_STORED = 64 * 1024;
/** Headers never replayed: they belong to one connection, or are the replay's own. */
const NOT_STORED = new Set(['set-cookie', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'ratelimit', 'ratelimit-policy', 'date']);

const resolve = <Req, T>(value: T | ((req: Req) => T | Promise<T>), req: Req): Promise<T> =>
  Promise.resolve(typeof value === 'function' ? (value as (req: Req) => T | Promise<T>)(req) : value);

/** The RateLimit fields of a decision, to add to the handler's answer. */
export function rateLimitHeaders(fields: RateLimitFields): [string, string][] {
  const headers: [string, string][] = [];
  if (fields.policy !== null) headers.push(['RateLimit-Policy', fields.policy]);
  if (fields.limit !== null) headers.push(['RateLimit', fields.limit]);
  return headers;
}

/** The answer to a denied request: the gateway's own problem (402 or 429) with its RateLimit fields and Retry-After. */
function deniedResponse(denied: Denied): Response {
  const headers = new Headers([['content-type', 'application/problem+json'], ...rateLimitHeaders(denied.rateLimit)]);
  if (denied.retryAfterSeconds !== null) headers.set('retry-after', String(denied.retryAfterSeconds));
  return new Response(JSON.stringify(denied.problem), { status: denied.status, headers });
}

function unavailableResponse(): Response {
  const problem = {
    type: 'https://quotagate.dev/problems/backend_unavailable',
    title: 'Backend unavailable',
    status: 503,
    code: 'backend_unavailable',
    detail: 'quota decisions are unavailable right now; retry shortly',
  };
  return new Response(JSON.stringify(problem), { status: 503, headers: { 'content-type': 'application/problem+json', 'retry-after': '1' } });
}

function storedReply(stored: string): Response | null {
  let parsed: StoredResponse;
  try {
    parsed = JSON.parse(stored) as StoredResponse;
  } catch {
    return null;
  }
  const headers = new Headers(parsed.h);
  headers.set('idempotent-replayed', 'true');
  return new Response(parsed.s === 204 || parsed.s === 304 ? null : parsed.b, { status: parsed.s, headers });
}

/** Text bodies only: anything else (binary, a stream of events) is not kept, and its retry runs the handler again as a new, charged request. */
export function isStorable(contentType: string | null): boolean {
  if (contentType === null) return true;
  const type = contentType.toLowerCase();
  if (type.startsWith('text/event-stream')) return false;
  return type.startsWith('text/') || type.includes('json') || type.includes('xml') || type.startsWith('application/x-www-form-urlencoded');
}

/** The headers kept with a stored response. */
export function storedHeaders(entries: Iterable<[string, string]>): [string, string][] {
  return [...entries].filter(([name]) => !NOT_STORED.has(name.toLowerCase()));
}

export type Begun = { answer: Response } | { run: QuotaRun };

/**
 * One protected request: decided before the handler (`begin`), then ended by what the
 * handler did (`succeeded` or `failed`). Framework adapters only move requests and responses.
 */
export class QuotaRun implements QuotaContext {
  private actual: number | Record<string, number> | undefined;
  private ended = false;

  private constructor(
    private readonly client: QuotagateClient | null,
    private readonly releases: Charge[],
    private readonly key: string | null,
    private readonly options: QuotaOptions<never>,
    readonly reservationId: string | null,
    readonly metrics: readonly MetricUsage[],
    readonly replayed: boolean,
    readonly unmetered: boolean,
    readonly rateLimit: RateLimitFields,
  ) {}

  /** Decides the request: an answer to send instead of running the handler (denied, replayed, unavailable), or a run. */
  static async begin<Req>(options: QuotaOptions<Req>, req: Req, headers: { get(name: string): string | null }): Promise<Begun> {
    const key = (options.idempotencyKey ? options.idempotencyKey(req) : headers.get('idempotency-key')) ?? null;
    const opts = options as QuotaOptions<never>;
    const noLimits: RateLimitFields = { policy: null, limit: null };
    try {
      const [client, charges, releases] = await Promise.all([resolve(options.client, req), resolve(options.charges ?? [], req), resolve(options.release ?? [], req)]);
      if (charges.length === 0) return { run: new QuotaRun(client, releases, key, opts, null, [], false, false, noLimits) };
      let decision = await client.reserve({ charges, ttlSeconds: options.ttlSeconds, ...(key ? { idempotencyKey: key } : {}) });
      let rerun = false;
      if (decision.allowed && decision.replayed) {
        const stored = decision.response === null ? null : storedReply(decision.response);
        if (stored) {
          for (const [name, value] of rateLimitHeaders(decision.rateLimit)) stored.headers.set(name, value);
          return { answer: stored };
        }
        // Done before, but its response cannot be given again: running the handler again is new work, charged as a new request.
        decision = await client.reserve({ charges, ttlSeconds: options.ttlSeconds });
        rerun = true;
      }
      if (!decision.allowed) return { answer: deniedResponse(decision) };
      return { run: new QuotaRun(client, releases, rerun ? null : key, opts, decision.id, decision.metrics, rerun, false, decision.rateLimit) };
    } catch (err) {
      const unavailable = isQuotagateError(err) && err.retryable;
      if (!unavailable) throw err;
      if (options.whenUnavailable === 'open') return { run: new QuotaRun(null, [], key, opts, null, [], false, true, noLimits) };
      return { answer: unavailableResponse() };
    }
  }

  report(actual: number | Record<string, number>): void {
    this.actual = actual;
  }

  /** The handler threw or answered 5xx: the charge is refunded (`refund` events), and the idempotency key may be used again. */
  async failed(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    if (this.client && this.reservationId) await this.client.refund(this.reservationId).catch((err) => this.notify(err, 'refund'));
  }

  /**
   * The handler answered below 500: the reservation is settled (with the reported amounts and,
   * with an idempotency key, the response for replays), and after a 2xx the gauges are released.
   */
  async succeeded(response: { status: number; headers: [string, string][]; text: string | null }): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    if (!this.client) return;
    if (this.reservationId) {
      const stored =
        this.key && response.text !== null ? JSON.stringify({ s: response.status, h: storedHeaders(response.headers), b: response.text } satisfies StoredResponse) : undefined;
      await this.client.settle(this.reservationId, { actual: this.actual, response: stored }).catch((err) => this.notify(err, 'settle'));
    }
    if (response.status >= 200 && response.status < 300) {
      await Promise.all(
        this.releases.map((r) =>
          this.client!.release({ metric: r.metric, amount: r.amount, ...(this.key ? { idempotencyKey: `${this.key}:release:${r.metric}` } : {}) }).catch((err) =>
            this.notify(err, 'release'),
          ),
        ),
      );
    }
  }

  /** Largest body kept for replays. */
  get maxStoredBytes(): number {
    return this.key ? (this.options.maxStoredResponseBytes ?? DEFAULT_MAX_STORED) : 0;
  }

  private notify(err: unknown, step: 'settle' | 'refund' | 'release'): void {
    (this.options.onError ?? ((e, s) => console.error(`quotagate: ${s} failed`, e)))(err, step);
  }
}
