import type { components } from './generated/openapi.js';
import { answerError, retryAfterOf, Transport, type Answer, type Call, type TransportOptions } from './transport.js';
import type {
  Charge,
  CheckResult,
  ConsumeDecision,
  Denied,
  QuotaExceededProblem,
  RateLimitedProblem,
  RateLimitFields,
  Released,
  ReservationEnded,
  ReserveDecision,
  Usage,
  UsageToken,
} from './types.js';

export interface ClientOptions extends Omit<TransportOptions, 'credential'> {
  /** The subject's API key (qg_…): on a server only, never in a browser. */
  apiKey?: string;
  /** A usage token (qgu_…), or a function that gets a fresh one: in a browser, for usage() only. */
  usageToken?: string | (() => string | Promise<string>);
  /**
   * Give every consume, reservation and gauge release without a key of its own an
   * Idempotency-Key (a random UUID), so its retries are charged once (default true).
   */
  autoIdempotencyKeys?: boolean;
}

export interface CallOptions {
  /** Aborts the call (and its retries). */
  signal?: AbortSignal;
}

export interface DecisionOptions extends CallOptions {
  charges: Charge[];
  /** Scoped to the subject: a repeat is never charged again. Kept the same across the client's retries. */
  idempotencyKey?: string;
}

type Schemas = components['schemas'];

const rateLimitOf = (headers: Headers): RateLimitFields => ({ policy: headers.get('ratelimit-policy'), limit: headers.get('ratelimit') });

const newKey = () => globalThis.crypto.randomUUID();
const idPath = (id: string) => encodeURIComponent(id);

/**
 * A client of one subject's decision API (its API key), or of its usage alone (a usage
 * token). Every method answers what the gateway decided; a denial (402, 429) is a value with
 * `allowed: false`, anything else unexpected a QuotagateError.
 */
export class QuotagateClient {
  private readonly transport: Transport;
  private readonly autoKeys: boolean;

  constructor(options: ClientOptions) {
    const credential = options.apiKey ?? options.usageToken;
    if (credential === undefined) throw new TypeError('QuotagateClient needs an apiKey or a usageToken');
    this.transport = new Transport({ ...options, credential: typeof credential === 'function' ? credential : () => credential });
    this.autoKeys = options.autoIdempotencyKeys ?? true;
  }

  /** GET /v1/usage: the subject's plan and, per metric, limit, used, remaining, percent and status. */
  usage(options: CallOptions = {}): Promise<Usage> {
    return this.expect<Usage>({ method: 'GET', path: '/v1/usage', repeatable: true, signal: options.signal }, 200);
  }

  /** POST /v1/consume: decide and apply a charge, all or nothing. */
  async consume(options: DecisionOptions): Promise<ConsumeDecision> {
    const call = this.decisionCall('/v1/consume', { charges: options.charges }, options);
    const answer = await this.transport.send(call);
    if (answer.status !== 200) return this.denied(call, answer);
    const body = answer.body as Schemas['Decision'];
    return {
      allowed: true,
      requestId: body.request_id,
      metrics: body.metrics,
      replayed: answer.headers.get('idempotent-replayed') === 'true',
      rateLimit: rateLimitOf(answer.headers),
    };
  }

  /** POST /v1/check: the decision consume would make now, applying nothing. */
  check(options: Omit<DecisionOptions, 'idempotencyKey'>): Promise<CheckResult> {
    return this.expect<CheckResult>({ method: 'POST', path: '/v1/check', body: { charges: options.charges }, repeatable: true, signal: options.signal }, 200);
  }

  /**
   * POST /v1/reservations: hold units until settle(), releaseReservation() or refund(), or
   * until `ttlSeconds` pass (then the gateway releases them). With an idempotency key, a
   * repeat while the reservation is open is an `idempotency_in_flight` error, after settle a
   * replay (`replayed: true` with the stored `response`), after a refund a new reservation.
   */
  async reserve(options: DecisionOptions & { ttlSeconds?: number }): Promise<ReserveDecision> {
    const body = { charges: options.charges, ...(options.ttlSeconds === undefined ? {} : { ttl_seconds: options.ttlSeconds }) };
    const call = this.decisionCall('/v1/reservations', body, options);
    const answer = await this.transport.send(call);
    if (answer.status !== 201 && answer.status !== 200) return this.denied(call, answer);
    const reservation = answer.body as Schemas['Reservation'];
    return {
      allowed: true,
      id: reservation.id,
      expiresAt: reservation.expires_at,
      metrics: reservation.metrics,
      replayed: reservation.replayed,
      response: reservation.response,
      rateLimit: rateLimitOf(answer.headers),
    };
  }

  /**
   * Ends a reservation with what was actually used (a number for a one-metric reservation,
   * else metric → amount; omitted: what was reserved). `response` is kept for replays of its
   * idempotency key.
   */
  settle(id: string, options: CallOptions & { actual?: number | Record<string, number>; response?: string } = {}): Promise<ReservationEnded> {
    const body = { ...(options.actual === undefined ? {} : { actual: options.actual }), ...(options.response === undefined ? {} : { response: options.response }) };
    return this.expect<ReservationEnded>({ method: 'POST', path: `/v1/reservations/${idPath(id)}/settle`, body, repeatable: true, signal: options.signal }, 200);
  }

  /** Gives a reservation back because the work was called off (`release` events). */
  releaseReservation(id: string, options: CallOptions = {}): Promise<ReservationEnded> {
    return this.expect<ReservationEnded>({ method: 'DELETE', path: `/v1/reservations/${idPath(id)}`, repeatable: true, signal: options.signal }, 200);
  }

  /** Gives a reservation back because the work failed (`refund` events); its idempotency key may then be used again. */
  refund(id: string, options: CallOptions = {}): Promise<ReservationEnded> {
    return this.expect<ReservationEnded>({ method: 'POST', path: `/v1/reservations/${idPath(id)}/refund`, repeatable: true, signal: options.signal }, 200);
  }

  /** POST /v1/release: lowers a gauge (a project was deleted), never below 0. */
  release(options: CallOptions & { metric: string; amount: number; idempotencyKey?: string }): Promise<Released> {
    const key = options.idempotencyKey ?? (this.autoKeys ? newKey() : undefined);
    return this.expect<Released>(
      { method: 'POST', path: '/v1/release', body: { metric: options.metric, amount: options.amount }, idempotencyKey: key, repeatable: key !== undefined, signal: options.signal },
      200,
    );
  }

  /** POST /v1/usage-tokens: a read-only token of this subject's usage for a browser (default 15 min, at most 1 h). */
  mintUsageToken(options: CallOptions & { ttlSeconds?: number } = {}): Promise<UsageToken> {
    const body = options.ttlSeconds === undefined ? {} : { ttl_seconds: options.ttlSeconds };
    return this.expect<UsageToken>({ method: 'POST', path: '/v1/usage-tokens', body, repeatable: true, signal: options.signal }, 201);
  }

  private decisionCall(path: string, body: unknown, options: DecisionOptions): Call {
    const key = options.idempotencyKey ?? (this.autoKeys ? newKey() : undefined);
    return { method: 'POST', path, body, idempotencyKey: key, repeatable: key !== undefined, signal: options.signal };
  }

  private async expect<T>(call: Call, status: number): Promise<T> {
    const answer = await this.transport.send(call);
    if (answer.status !== status) throw answerError(call, answer);
    return answer.body as T;
  }

  private denied(call: Call, answer: Answer): Denied {
    const rateLimit = rateLimitOf(answer.headers);
    if (answer.status === 402) return { allowed: false, reason: 'quota', status: 402, problem: answer.body as QuotaExceededProblem, rateLimit, retryAfterSeconds: null };
    if (answer.status === 429) {
      return { allowed: false, reason: 'rate', status: 429, problem: answer.body as RateLimitedProblem, rateLimit, retryAfterSeconds: retryAfterOf(answer.headers) ?? 1 };
    }
    throw answerError(call, answer);
  }
}

/** A client of one subject: `createClient({ baseUrl, apiKey })` on a server, `{ baseUrl, usageToken }` in a browser. */
export function createClient(options: ClientOptions): QuotagateClient {
  return new QuotagateClient(options);
}
