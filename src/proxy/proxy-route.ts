import { Readable } from 'node:stream';
import type { Context, Handler } from 'hono';
import { getConnInfo } from '@hono/node-server/conninfo';
import { isReserved, type RouteDef } from '../config/policy.js';
import { decisionHeaders, decisionProblem } from '../http/decision-answer.js';
import type { GatewayDeps } from '../http/gateway-deps.js';
import { ProblemError } from '../http/problem.js';
import { idempotencyKeyOf } from '../http/idempotency-key.js';
import { EngineInputError } from '../quota/engine.js';
import { planOf } from '../quota/limits.js';
import type { Decision, HoldRef, SubjectRef } from '../quota/types.js';
import { subjectRef } from '../subjects/subject-ref.js';
import { needsJsonBody, planCharges, type ChargePlan } from './charge-plan.js';
import { requestFingerprint } from './fingerprint.js';
import { clientResponseHeaders, upstreamRequestHeaders } from './headers.js';
import { relay, type RelayEnd } from './relay.js';
import { checkDeclaredLength, limitStream, readBodyLimited } from './request-body.js';
import { ResponseTap } from './response-tap.js';
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
  /** The hold to end once the response is done; null when nothing was charged. */
  hold: HoldRef | null;
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
  const readsResponse = route.charge.some((c) => isReserved(c) && c.settle.from.startsWith('response.'));
  const holdTtlMs = Math.max(deps.settings.holdTtlMs, route.timeout_ms + 30_000);
  const rateClass = route.rate_class ?? route.name;

  return async function proxyHandler(c) {
    const request = c.req.raw;
    const url = new URL(request.url);
    const idempotencyKey = idempotencyKeyOf(request.headers);
    const hasBody = request.method !== 'GET' && request.method !== 'HEAD';
    const max = deps.settings.maxBodyBytes;

    // The body is read up front only when the charge or the idempotency fingerprint needs it.
    let body: Uint8Array | null = null;
    if (hasBody && (readsBody || idempotencyKey)) body = await readBodyLimited(request, max);
    else if (hasBody) checkDeclaredLength(request.headers, max);
    const plan = planCharges(route, { json: readsBody ? parseJson(body) : undefined, query: url.searchParams, headers: request.headers });

    const owner = c.get('owner');
    const subject = subjectRef(owner.subject);
    const idempotency = idempotencyKey
      ? {
          key: idempotencyKey,
          fingerprint: requestFingerprint({ route: route.name, method: request.method, pathAndQuery: url.pathname + url.search, body }),
        }
      : undefined;
    const holds = plan.charges.some((ch) => ch.held) || planOf(deps.policy, subject).concurrency !== undefined || idempotency !== undefined;

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
        mode: route.mode,
        context: { route: route.name, key: owner.keyId },
      });
    } catch (err) {
      if (err instanceof EngineInputError) throw err;
      deps.metrics.backendErrors.inc({ backend: 'redis' });
      c.get('log').warn({ err, route: route.name }, 'quota decision unavailable');
      if (route.when_redis_down === 'open') {
        deps.metrics.failOpen.inc({ route: route.name });
        deps.metrics.decisions.inc({ route: route.name, outcome: 'fail_open' });
        return forward({ c, route, subject, hold: null, plan, body, idempotencyKey, extraHeaders: {}, deadlineMs: holdTtlMs }, deps, readsResponse);
      }
      deps.metrics.decisions.inc({ route: route.name, outcome: 'unavailable' });
      throw new ProblemError('backend_unavailable', 'quota decisions are unavailable right now; retry shortly', {}, { 'retry-after': '1' });
    } finally {
      deps.metrics.decisionSeconds.observe({ route: route.name }, (performance.now() - started) / 1000);
    }

    const now = deps.clock.now();
    deps.metrics.decisions.inc({ route: route.name, outcome: decision.outcome === 'denied' ? `denied_${decision.reason}` : decision.outcome });
    const problem = decisionProblem(decision, { now, upgradeUrl: deps.settings.upgradeUrl });
    if (problem) throw problem;
    const extraHeaders = decisionHeaders(decision, now);

    if (decision.outcome === 'replayed') {
      extraHeaders['idempotent-replayed'] = 'true';
      if (decision.response !== null) return storedReply(decision.response, extraHeaders);
      // A streamed (or too large) response was not stored: forward again, charging nothing.
      return forward({ c, route, subject, hold: null, plan, body, idempotencyKey, extraHeaders, deadlineMs: holdTtlMs }, deps, readsResponse);
    }
    if (decision.outcome !== 'allowed') throw new Error(`unexpected decision ${decision.outcome}`);
    if (decision.wouldDeny) {
      const reason = decision.wouldDeny.reason;
      deps.metrics.shadowDenials.inc({ route: route.name, reason });
      extraHeaders['quotagate-shadow'] = decision.wouldDeny.metric ? `would-deny; reason=${reason}; metric=${decision.wouldDeny.metric}` : `would-deny; reason=${reason}`;
    }
    return forward(
      { c, route, subject, hold: decision.hold, plan, body, idempotencyKey, extraHeaders, deadlineMs: holdTtlMs - DEADLINE_MARGIN_MS },
      deps,
      readsResponse,
    );
  };
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
  const url = new URL(request.url);
  let bodyTooLarge = false;
  let upstreamBody: Uint8Array | Readable | null = f.body;
  if (!upstreamBody && request.body && request.method !== 'GET' && request.method !== 'HEAD') {
    upstreamBody = Readable.fromWeb(limitStream(request.body, deps.settings.maxBodyBytes, () => (bodyTooLarge = true)) as never);
  }

  const started = performance.now();
  let upstream: UpstreamResponse;
  try {
    upstream = await deps.upstream.send({
      url: new URL(url.pathname + url.search, route.upstream).toString(),
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
    if (hold) endFailed(deps, route, subject, hold);
    if (bodyTooLarge) throw new ProblemError('payload_too_large', `the request body exceeds ${deps.settings.maxBodyBytes} bytes`);
    throw upstreamProblem(failure, route);
  }
  deps.metrics.upstreamSeconds.observe({ route: route.name, status: `${Math.floor(upstream.status / 100)}xx` }, (performance.now() - started) / 1000);

  if (route.release.length > 0 && upstream.status >= 200 && upstream.status < 300) {
    for (const line of route.release) {
      deps.settlements.run(`release ${line.metric}`, () => deps.engine.release(subject, line.metric, line.amount, { context: { route: route.name } }));
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
  const onEnd = (end: RelayEnd) => {
    if (hold) endHold(deps, route, subject, hold, upstream, tap, end);
  };

  if (request.method === 'HEAD' || NO_BODY.has(upstream.status)) {
    upstream.body.resume();
    tap.end();
    onEnd({ kind: 'complete' });
    return new Response(null, { status: upstream.status, headers });
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

/** The upstream failed before answering: refund, or keep the charge, as the route says. */
function endFailed(deps: GatewayDeps, route: RouteDef, subject: SubjectRef, hold: HoldRef): void {
  if (route.on_upstream_error === 'refund') {
    deps.settlements.run('refund', () => deps.engine.releaseHold(subject.id, hold, 'refund'));
  } else {
    deps.settlements.run('settle', () => deps.engine.settle(subject, hold));
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
): void {
  const failed = upstream.status >= 500 || end.kind === 'upstream_error';
  if (failed) return endFailed(deps, route, subject, hold);
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
  deps.settlements.run('settle', () => deps.engine.settle(subject, hold, actuals, { response: response || undefined }));
}
