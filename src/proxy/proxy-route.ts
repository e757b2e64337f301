import { Readable } from 'node:stream';
import type { Context, Handler } from 'hono';
import type { Logger } from 'pino';
import { getConnInfo } from '@hono/node-server/conninfo';
import { isReserved, type RouteDef } from '../config/policy.js';
import { decisionHeaders, decisionProblem } from '../http/decision-answer.js';
import type { GatewayDeps } from '../http/gateway-deps.js';
import { ProblemError } from '../http/problem.js';
import { idempotencyKeyOf } from '../http/idempotency-key.js';
import { EngineInputError } from '../quota/errors.js';
import { planOf } from '../quota/limits.js';
import type { Decision, HoldRef, RefundRef, SubjectRef } from '../quota/types.js';
import { subjectRef } from '../subjects/subject-ref.js';
import { needsJsonBody, planCharges, reservesAny, type ChargePlan } from './charge-plan.js';
import { requestFingerprint } from './fingerprint.js';
import { clientResponseHeaders, upstreamRequestHeaders } from './headers.js';
import { arrivedWhole, relay, type RelayEnd } from './relay.js';
import { checkDeclaredLength, limitStream, readBodyLimited } from './request-body.js';
import { ResponseTap } from './response-tap.js';
import { declaresSmallBody } from './small-body.js';
import { decodeStoredResponse, encodeStoredResponse } from './stored-response.js';
import { classifyUpstreamError, UpstreamFailure, type UpstreamResponse } from './upstream-client.js';

/** Statuses whose responses carry no body. */
const NO_BODY = new Set([204, 205, 304]);
/** A request is cut off this long before its hold would expire, so it settles in time. */
const DEADLINE_MARGIN_MS = 5_000;

interface Forwarding {
  c: Context;
  route: RouteDef;
  subject: SubjectRef;
  /** Where the request goes: the route's upstream origin and the request's path and query. */
  upstreamUrl: string;
  /** The hold to end once the response is done; null when nothing was held. */
  hold: HoldRef | null;
  /** A charge taken outright, to give back if the upstream fails; null when there is none. */
  refund: RefundRef | null;
  plan: ChargePlan;
  body: Uint8Array | null;
  idempotencyKey: string | null;
  extraHeaders: Record<string, string>;
  deadlineMs: number;
}

/**
 * The handler of one configured route: authenticate (done by middleware), decide the whole
 * charge in one Redis script, forward to the upstream streaming both ways, then settle,
 * refund or release from what the upstream answered.
 */
export function proxyRoute(route: RouteDef, deps: GatewayDeps): Handler {
  const readsBody = needsJsonBody(route);
  const reserves = reservesAny(route);
  const readsResponse = route.charge.some((c) => isReserved(c) && c.settle.from.startsWith('response.'));
  const holdTtlMs = Math.max(deps.settings.holdTtlMs, route.timeout_ms + 30_000);
  const rateClass = route.rate_class ?? route.name;
  const origin = new URL(route.upstream).origin;

  return async function proxyHandler(c) {
    const request = c.req.raw;
    const pathAndQuery = pathAndQueryOf(request.url);
    const upstreamUrl = origin + pathAndQuery;
    const idempotencyKey = idempotencyKeyOf(request.headers);
    const hasBody = request.method !== 'GET' && request.method !== 'HEAD';
    const max = deps.settings.maxBodyBytes;

    // The body is read up front when the charge or the idempotency fingerprint needs it, or
    // when it is small (see SMALL_BODY_BYTES); any other body streams to the upstream.
    let body: Uint8Array | null = null;
    if (hasBody && (readsBody || idempotencyKey || declaresSmallBody(request.headers.get('content-length')))) body = await readBodyLimited(request, max);
    else if (hasBody) checkDeclaredLength(request.headers, max);

    const owner = c.get('owner');
    const subject = subjectRef(owner.subject);
    const idempotency = idempotencyKey
      ? { key: idempotencyKey, fingerprint: requestFingerprint({ route: route.name, method: request.method, pathAndQuery, body }) }
      : undefined;
    const holds = reserves || planOf(deps.policy, subject).concurrency !== undefined || idempotency !== undefined;
    const query = new URLSearchParams(pathAndQuery.includes('?') ? pathAndQuery.slice(pathAndQuery.indexOf('?') + 1) : '');
    const plan = planCharges(route, { json: readsBody ? parseJson(body) : undefined, query, headers: request.headers }, { holds });
    // Without a hold, a refunding route's charge is taken outright and given back only if the upstream fails.
    const refunds = !holds && route.on_upstream_error === 'refund' && plan.charges.some((ch) => ch.amount > 0);

    const started = performance.now();
    let decision: Decision;
    try {
      decision = await deps.engine.consume({
        subject,
        charges: plan.charges,
        requestId: c.get('requestId'),
        rateClass,
        concurrency: true,
        idempotency,
        holdTtlMs: holds ? holdTtlMs : undefined,
        refundTtlMs: refunds ? holdTtlMs : undefined,
        mode: route.mode,
        context: { route: route.name, key: owner.keyId },
      });
    } catch (err) {
      if (err instanceof EngineInputError) throw err;
      deps.metrics.backendError(err);
      c.get('log').warn({ err, route: route.name }, 'quota decision unavailable');
      if (route.when_redis_down === 'open') {
        deps.metrics.failOpen.inc({ route: route.name });
        deps.metrics.decisions.inc({ route: route.name, outcome: 'fail_open' });
        return forward({ c, route, subject, upstreamUrl, hold: null, refund: null, plan, body, idempotencyKey, extraHeaders: {}, deadlineMs: holdTtlMs }, deps, readsResponse);
      }
      deps.metrics.decisions.inc({ route: route.name, outcome: 'unavailable' });
      throw new ProblemError('backend_unavailable', 'quota decisions are unavailable right now; retry shortly', {}, { 'retry-after': '1' });
    } finally {
      deps.metrics.decisionSeconds.observe({ route: route.name }, (performance.now() - started) / 1000);
    }

    const now = deps.clock.now();
    deps.metrics.decided(route.name, decision);
    const problem = decisionProblem(decision, { now, upgradeUrl: deps.settings.upgradeUrl });
    if (problem) throw problem;
    const extraHeaders = decisionHeaders(decision, now);

    if (decision.outcome === 'replayed') {
      extraHeaders['idempotent-replayed'] = 'true';
      if (decision.response !== null) return storedReply(decision.response, extraHeaders);
      // A streamed (or too large) response was not stored: forward again, charging nothing.
      return forward({ c, route, subject, upstreamUrl, hold: null, refund: null, plan, body, idempotencyKey, extraHeaders, deadlineMs: holdTtlMs }, deps, readsResponse);
    }
    if (decision.outcome !== 'allowed') throw new Error(`unexpected decision ${decision.outcome}`);
    if (decision.wouldDeny) {
      const reason = decision.wouldDeny.reason;
      deps.metrics.shadowDenials.inc({ route: route.name, reason });
      extraHeaders['quotagate-shadow'] = decision.wouldDeny.metric ? `would-deny; reason=${reason}; metric=${decision.wouldDeny.metric}` : `would-deny; reason=${reason}`;
    }
    return forward(
      { c, route, subject, upstreamUrl, hold: decision.hold, refund: decision.refund, plan, body, idempotencyKey, extraHeaders, deadlineMs: holdTtlMs - DEADLINE_MARGIN_MS },
      deps,
      readsResponse,
    );
  };
}

/** The path and query of an absolute URL (already normalised by the server): no second parse. */
function pathAndQueryOf(url: string): string {
  const start = url.indexOf('/', url.indexOf('//') + 2);
  return start < 0 ? '/' : url.slice(start);
}

function parseJson(body: Uint8Array | null): unknown {
  if (!body || body.byteLength === 0) return undefined;
  try {
    return JSON.parse(Buffer.from(body).toString('utf8'));
  } catch {
    throw new ProblemError('invalid_request', 'the request body is not valid JSON', { field: 'body' });
  }
}

function storedReply(stored: string, extraHeaders: Record<string, string>): Response {
  const response = decodeStoredResponse(stored);
  const headers = new Headers(response.headers);
  for (const [name, value] of Object.entries(extraHeaders)) headers.set(name, value);
  return new Response(NO_BODY.has(response.status) ? null : new Uint8Array(response.body), { status: response.status, headers });
}

async function forward(f: Forwarding, deps: GatewayDeps, readsResponse: boolean): Promise<Response> {
  const { c, route, subject, hold } = f;
  const request = c.req.raw;
  let bodyTooLarge = false;
  let upstreamBody: Uint8Array | Readable | null = f.body;
  if (!upstreamBody && request.body && request.method !== 'GET' && request.method !== 'HEAD') {
    upstreamBody = Readable.fromWeb(limitStream(request.body, deps.settings.maxBodyBytes, () => (bodyTooLarge = true)) as never);
  }

  const started = performance.now();
  let upstream: UpstreamResponse;
  try {
    upstream = await deps.upstream.send({
      url: f.upstreamUrl,
      method: request.method,
      headers: upstreamRequestHeaders(request.headers, {
        subjectId: subject.id,
        requestId: c.get('requestId'),
        clientIp: clientIp(c),
        identity: readsResponse,
      }),
      body: upstreamBody,
      timeoutMs: route.timeout_ms,
    });
  } catch (err) {
    const failure = classifyUpstreamError(err);
    deps.metrics.upstreamSeconds.observe({ route: route.name, status: failure.kind }, (performance.now() - started) / 1000);
    c.get('log').warn({ err: failure, route: route.name }, 'upstream request failed');
    endFailed(deps, route, subject, f, c.get('log'));
    if (bodyTooLarge) throw new ProblemError('payload_too_large', `the request body exceeds ${deps.settings.maxBodyBytes} bytes`);
    throw upstreamProblem(failure, route);
  }
  deps.metrics.upstreamSeconds.observe({ route: route.name, status: `${Math.floor(upstream.status / 100)}xx` }, (performance.now() - started) / 1000);

  if (route.release.length > 0 && upstream.status >= 200 && upstream.status < 300) {
    for (const line of route.release) {
      deps.settlements.run(c.get('log'), `release ${line.metric}`, () => deps.engine.release(subject, line.metric, line.amount, { context: { route: route.name } }));
    }
  }

  const tap = new ResponseTap({
    settle: hold ? f.plan.settle : [],
    headers: upstream.headers,
    recordLimit: hold && f.idempotencyKey ? deps.settings.idempotencyMaxResponseBytes : 0,
    jsonLimit: 8 * 1024 * 1024,
  });
  const headers = clientResponseHeaders(upstream.headers);
  for (const [name, value] of Object.entries(f.extraHeaders)) headers.set(name, value);
  // Settlements run after the response has left: they log with the request's logger.
  const log = c.get('log');
  const onEnd = (end: RelayEnd) => {
    if (hold) endHold(deps, route, subject, hold, upstream, tap, end, log);
    else if (failed(upstream, end)) endFailed(deps, route, subject, f, log);
  };

  if (request.method === 'HEAD' || NO_BODY.has(upstream.status)) {
    upstream.body.resume();
    tap.end();
    onEnd({ kind: 'complete' });
    return new Response(null, { status: upstream.status, headers });
  }
  // An event stream is relayed at once, whatever has arrived of it.
  const whole = tap.streamed ? null : await arrivedWhole(upstream.body);
  if (whole) {
    tap.write(whole);
    tap.end();
    onEnd({ kind: 'complete' });
    return new Response(whole, { status: upstream.status, headers });
  }
  const drainOnAbort = hold !== null && f.plan.settle.some((s) => s.from.startsWith('response.'));
  return new Response(relay(upstream.body, tap, { drainOnAbort, deadlineMs: f.deadlineMs }, onEnd), { status: upstream.status, headers });
}

function clientIp(c: Context): string | undefined {
  try {
    return getConnInfo(c).remote.address;
  } catch {
    return undefined; // not served by @hono/node-server (e.g. app.request in a test)
  }
}

function upstreamProblem(failure: UpstreamFailure, route: RouteDef): ProblemError {
  if (failure.kind === 'timeout') return new ProblemError('upstream_timeout', `the upstream of route ${route.name} did not answer within ${route.timeout_ms} ms`);
  return new ProblemError('upstream_error', `the upstream of route ${route.name} could not be reached`);
}

/** An upstream 5xx, or a body broken off by the upstream: what `on_upstream_error` is about. */
const failed = (upstream: UpstreamResponse, end: RelayEnd): boolean => upstream.status >= 500 || end.kind === 'upstream_error';

/** The upstream failed: refund, or keep the charge, as the route says. */
function endFailed(deps: GatewayDeps, route: RouteDef, subject: SubjectRef, f: Pick<Forwarding, 'hold' | 'refund'>, log: Logger): void {
  const { hold, refund } = f;
  if (hold && route.on_upstream_error === 'refund') {
    deps.settlements.run(log, 'refund', () => deps.engine.returnHold(subject.id, hold, 'refund'));
  } else if (hold) {
    deps.settlements.run(log, 'settle', () => deps.engine.settle(subject, hold));
  } else if (refund) {
    deps.settlements.run(log, 'refund', () => deps.engine.refund(refund));
  }
}

/**
 * The response is over: a 5xx or a broken stream refunds (on_upstream_error: refund);
 * otherwise reserved lines settle to the actual usage the response reported. A reserved
 * line without a reported actual keeps its reservation after a success and is released
 * after a 4xx (the upstream did no work). Small complete responses are kept for replays.
 */
function endHold(
  deps: GatewayDeps,
  route: RouteDef,
  subject: SubjectRef,
  hold: HoldRef,
  upstream: UpstreamResponse,
  tap: ResponseTap,
  end: RelayEnd,
  log: Logger,
): void {
  if (failed(upstream, end)) return endFailed(deps, route, subject, { hold, refund: null }, log);
  const actuals = tap.actuals();
  if (upstream.status >= 400) {
    for (const line of hold.lines) if (actuals[line.metric] === undefined && route.charge.some((ch) => ch.metric === line.metric && isReserved(ch))) actuals[line.metric] = 0;
  }
  const recorded = end.kind === 'complete' ? tap.recorded() : null;
  const response =
    recorded &&
    encodeStoredResponse({
      status: upstream.status,
      headers: [...clientResponseHeaders(upstream.headers)].filter(([name]) => name !== 'content-length'),
      body: recorded,
    });
  deps.settlements.run(log, 'settle', () => deps.engine.settle(subject, hold, actuals, { response: response || undefined }));
}
