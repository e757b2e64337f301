import { Readable } from 'node:stream';
import type { Context, Handler } from 'hono';
import type { Logger } from 'pino';
import { getConnInfo } from '@hono/node-server/conninfo';
import { isReserved, type RouteDef } from '../config/policy.js';
import { decisionHeaders, decisionProblem } from '../http/decision-answer.js';
import type { GatewayDeps } from '../http/gateway-deps.js';
import type { Settlements } from './settlements.js';
import type { UpstreamClient } from './upstream-client.js';
import { ProblemError } from '../http/problem.js';
import { idempotencyKeyOf } from '../http/idempotency-key.js';
import { EngineInputError } from '../quota/errors.js';
import { planOf } from '../quota/limits.js';
import type { Decision, HoldRef, RefundRef, SubjectRef } from '../quota/types.js';
import { subjectRef } from '../subjects/subject-ref.js';
import { endingOf, needsJsonBody, planCharges, type ChargePlan, type UpstreamResult } from './charge-plan.js';
import { requestFingerprint } from './fingerprint.js';
import { clientResponseHeaders, upstreamRequestHeaders } from './headers.js';
import { arrivedWhole, relay, type RelayEnd } from './relay.js';
import { checkDeclaredLength, limitStream, parseJsonBody, readBodyLimited } from './request-body.js';
import { ResponseTap } from './response-tap.js';
import { askForUsage } from './include-usage.js';
import { PROVIDERS } from '../metering/providers.js';
import { declaresSmallBody } from './small-body.js';
import { NO_BODY_STATUSES, replayStoredResponse, storeUpstreamResponse } from './stored-response.js';
import { classifyUpstreamError, upstreamProblem, type UpstreamResponse } from './upstream-client.js';

/** A request is cut off this long before its hold would expire, so it settles in time. */
const DEADLINE_MARGIN_MS = 5_000;

/** The gateway's dependencies with what proxied routes add: the upstream client, and the settlements that end requests after their response. */
export interface ProxyDeps extends GatewayDeps {
  upstream: UpstreamClient;
  settlements: Settlements;
}

/** What one route's handler knows before any request. */
interface RouteShape {
  route: RouteDef;
  readsBody: boolean;
  /** Whether a reserved line settles from the response body (the tap must read it). */
  readsResponse: boolean;
  holdTtlMs: number;
  rateClass: string;
  origin: string;
}

/** A request read and planned: who pays, what, and where it goes. */
interface Prepared {
  subject: SubjectRef;
  keyId: string;
  /** The route's upstream origin and the request's path and query. */
  upstreamUrl: string;
  /** Read up front (see prepare); null when it streams or there is none. */
  body: Uint8Array | null;
  idempotency: { key: string; fingerprint: string } | undefined;
  plan: ChargePlan;
  /** The gateway asked an OpenAI chat stream for usage the client did not ask for: hide it (include-usage.ts). */
  hidesUsage: boolean;
}

/** What the decision left to the rest of the request. */
interface Charged {
  /** The hold to end once the response is done; null when nothing was held. */
  hold: HoldRef | null;
  /** A charge taken outright, to give back if the upstream fails; null when there is none. */
  refund: RefundRef | null;
  /** RateLimit and shadow-mode headers for the client. */
  headers: Record<string, string>;
  /** How long the response may take before it is cut off. */
  deadlineMs: number;
  /** Set once settle() has run: the charge is ended exactly once. */
  ended: boolean;
}

/** Nothing held or refundable (fail-open). */
const uncharged = (headers: Record<string, string>, deadlineMs: number): Charged => ({ hold: null, refund: null, headers, deadlineMs, ended: false });

/**
 * The handler of one configured route, in four stages: prepare (read and plan the charge),
 * decide (the whole charge in one Redis script), forward (to the upstream, streaming both
 * ways), settle (end the charge from what the upstream did).
 */
export function proxyRoute(route: RouteDef, deps: ProxyDeps): Handler {
  const shape: RouteShape = {
    route,
    readsBody: needsJsonBody(route),
    readsResponse: route.provider !== undefined || route.charge.some((c) => isReserved(c) && c.settle.from?.startsWith('response.') === true),
    holdTtlMs: Math.max(deps.settings.holdTtlMs, route.timeout_ms + 30_000),
    rateClass: route.rate_class ?? route.name,
    origin: new URL(route.upstream).origin,
  };
  return async function proxyHandler(c) {
    const prepared = await prepare(c, shape, deps);
    const charged = await decide(c, shape, prepared, deps);
    if (charged instanceof Response) return charged;
    try {
      return await forward(c, shape, prepared, charged, deps);
    } catch (err) {
      // The gateway's own error after the decision (forward ends the charge itself on the
      // upstream's): the answer is an error, so the charge ends as a failed request's.
      if (!charged.ended) settle(deps, route, prepared, charged, { failed: true, status: 0, reported: {} }, null, c.get('log'));
      throw err;
    }
  };
}

async function prepare(c: Context, shape: RouteShape, deps: ProxyDeps): Promise<Prepared> {
  const { route } = shape;
  const request = c.req.raw;
  const pathAndQuery = pathAndQueryOf(request.url);
  const idempotencyKey = idempotencyKeyOf(request.headers);
  const hasBody = request.method !== 'GET' && request.method !== 'HEAD';
  const max = deps.settings.maxBodyBytes;

  // The body is read up front when the charge or the idempotency fingerprint needs it, or
  // when it is small (see SMALL_BODY_BYTES); any other body streams to the upstream.
  let body: Uint8Array | null = null;
  if (hasBody && (shape.readsBody || idempotencyKey || declaresSmallBody(request.headers.get('content-length')))) body = await readBodyLimited(request, max);
  else if (hasBody) checkDeclaredLength(request.headers, max);

  const owner = c.get('owner');
  const subject = subjectRef(owner.subject);
  const idempotency = idempotencyKey ? { key: idempotencyKey, fingerprint: requestFingerprint({ route: route.name, method: request.method, pathAndQuery, body }) } : undefined;
  const query = new URLSearchParams(pathAndQuery.includes('?') ? pathAndQuery.slice(pathAndQuery.indexOf('?') + 1) : '');
  const json = shape.readsBody ? parseJsonBody(body) : undefined;
  const path = pathAndQuery.replace(/\?.*/s, '');
  const plan = planCharges(
    route,
    { json, query, headers: request.headers, path, bodyBytes: body?.byteLength ?? 0 },
    { leased: planOf(deps.policy, subject).concurrency !== undefined, idempotent: idempotency !== undefined, holdTtlMs: shape.holdTtlMs, prices: deps.policy.prices },
  );
  const asking = plan.settle.some((l) => 'usage' in l.source) ? askForUsage(route.provider, json, body) : null;
  return { subject, keyId: owner.keyId, upstreamUrl: shape.origin + pathAndQuery, body: asking ?? body, idempotency, plan, hidesUsage: asking !== null };
}

/** The decision: a denial or a stored replay answers here (a Response); anything else goes on to the upstream. */
async function decide(c: Context, shape: RouteShape, p: Prepared, deps: ProxyDeps): Promise<Charged | Response> {
  const { route } = shape;
  const started = performance.now();
  let decision: Decision;
  try {
    decision = await deps.engine.consume({
      subject: p.subject,
      charges: p.plan.charges,
      requestId: c.get('requestId'),
      rateClass: shape.rateClass,
      concurrency: true,
      idempotency: p.idempotency,
      chargeUnstoredReplays: true,
      holdTtlMs: p.plan.holdTtlMs,
      refundTtlMs: p.plan.refundTtlMs,
      mode: route.mode,
      context: { route: route.name, key: p.keyId },
    });
  } catch (err) {
    if (err instanceof EngineInputError) throw err;
    deps.metrics.backendError(err);
    c.get('log').warn({ err, route: route.name }, 'quota decision unavailable');
    if (route.when_redis_down === 'open') {
      deps.metrics.failOpen.inc({ route: route.name });
      deps.metrics.decisions.inc({ route: route.name, outcome: 'fail_open' });
      return uncharged({}, shape.holdTtlMs);
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
  const headers = decisionHeaders(decision, now);

  if (decision.outcome === 'replayed') {
    headers['idempotent-replayed'] = 'true';
    // The engine charges a replay whose response was not stored (streamed, too large) as a new request.
    if (decision.response === null) throw new Error('a replay without a stored response was not charged');
    return replayStoredResponse(decision.response, headers);
  }
  if (decision.outcome !== 'allowed') throw new Error(`unexpected decision ${decision.outcome}`);
  if (decision.wouldDeny) {
    const reason = decision.wouldDeny.reason;
    deps.metrics.shadowDenials.inc({ route: route.name, reason });
    headers['quotagate-shadow'] = decision.wouldDeny.metric ? `would-deny; reason=${reason}; metric=${decision.wouldDeny.metric}` : `would-deny; reason=${reason}`;
  }
  return { hold: decision.hold, refund: decision.refund, headers, deadlineMs: shape.holdTtlMs - DEADLINE_MARGIN_MS, ended: false };
}

async function forward(c: Context, shape: RouteShape, p: Prepared, charged: Charged, deps: ProxyDeps): Promise<Response> {
  const { route } = shape;
  const request = c.req.raw;
  // Settlements run after the response has left: they log with the request's logger.
  const log = c.get('log');
  let bodyTooLarge = false;
  let upstreamBody: Uint8Array | Readable | null = p.body;
  if (!upstreamBody && request.body && request.method !== 'GET' && request.method !== 'HEAD') {
    upstreamBody = Readable.fromWeb(limitStream(request.body, deps.settings.maxBodyBytes, () => (bodyTooLarge = true)) as never);
  }

  const started = performance.now();
  let upstream: UpstreamResponse;
  try {
    upstream = await deps.upstream.send({
      url: p.upstreamUrl,
      method: request.method,
      headers: upstreamRequestHeaders(request.headers, {
        subjectId: p.subject.id,
        requestId: c.get('requestId'),
        clientIp: clientIp(c),
        identity: shape.readsResponse,
      }),
      body: upstreamBody,
      timeoutMs: route.timeout_ms,
    });
  } catch (err) {
    const failure = classifyUpstreamError(err);
    deps.metrics.upstreamSeconds.observe({ route: route.name, status: failure.kind }, (performance.now() - started) / 1000);
    log.warn({ err: failure, route: route.name }, 'upstream request failed');
    settle(deps, route, p, charged, { failed: true, status: 0, reported: {} }, null, log);
    if (bodyTooLarge) throw new ProblemError('payload_too_large', `the request body exceeds ${deps.settings.maxBodyBytes} bytes`);
    throw upstreamProblem(failure, route);
  }
  deps.metrics.upstreamSeconds.observe({ route: route.name, status: `${Math.floor(upstream.status / 100)}xx` }, (performance.now() - started) / 1000);

  if (route.release.length > 0 && upstream.status >= 200 && upstream.status < 300) {
    for (const line of route.release) {
      deps.settlements.run(log, `release ${line.metric}`, () => deps.engine.release(p.subject, line.metric, line.amount, { context: { route: route.name } }));
    }
  }

  const { hold } = charged;
  const tap = new ResponseTap({
    settle: hold ? p.plan.settle.flatMap((l) => ('from' in l.source ? [{ metric: l.metric, from: l.source.from }] : [])) : [],
    reader: hold && route.provider ? PROVIDERS[route.provider].reader() : undefined,
    headers: upstream.headers,
    recordLimit: hold && p.idempotency ? deps.settings.idempotencyMaxResponseBytes : 0,
    jsonLimit: 8 * 1024 * 1024,
    hideUsageChunk: p.hidesUsage,
  });
  const headers = clientResponseHeaders(upstream.headers);
  for (const [name, value] of Object.entries(charged.headers)) headers.set(name, value);
  const onEnd = (end: RelayEnd) => {
    const result = { failed: upstream.status >= 500 || end.kind === 'upstream_error', status: upstream.status, reported: tap.actuals(), usage: tap.usage() };
    const recorded = hold && !result.failed && end.kind === 'complete' ? tap.recorded() : null;
    settle(deps, route, p, charged, result, recorded && storeUpstreamResponse(upstream, recorded), log);
  };

  if (request.method === 'HEAD' || NO_BODY_STATUSES.has(upstream.status)) {
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
  const drainOnAbort = hold !== null && p.plan.settle.some((l) => !('from' in l.source) || l.source.from.startsWith('response.'));
  // The client gets fewer bytes than the upstream sent.
  if (p.hidesUsage) headers.delete('content-length');
  return new Response(relay(upstream.body, tap, { drainOnAbort, deadlineMs: charged.deadlineMs }, onEnd), { status: upstream.status, headers });
}

/**
 * Ends the request's charge as the plan says (charge-plan.ts `endingOf`), after the
 * response has left; `response` (a complete small one) is kept for replays.
 */
function settle(deps: ProxyDeps, route: RouteDef, p: Prepared, charged: Charged, result: UpstreamResult, response: string | null, log: Logger): void {
  charged.ended = true;
  const { hold, refund } = charged;
  const ending = endingOf(route, p.plan, { held: hold !== null, refundable: refund !== null }, result);
  switch (ending.action) {
    case 'settle':
      deps.settlements.run(log, 'settle', () => deps.engine.settle(p.subject, hold!, ending.actuals, { response: response ?? undefined }));
      return;
    case 'return-hold':
      deps.settlements.run(log, 'return hold', () => deps.engine.returnHold(p.subject.id, hold!, 'refund'));
      return;
    case 'refund':
      deps.settlements.run(log, 'refund', () => deps.engine.refund(refund!));
      return;
    case 'none':
      return;
  }
}

/** The path and query of an absolute URL (already normalised by the server): no second parse. */
function pathAndQueryOf(url: string): string {
  const start = url.indexOf('/', url.indexOf('//') + 2);
  return start < 0 ? '/' : url.slice(start);
}

function clientIp(c: Context): string | undefined {
  try {
    return getConnInfo(c).remote.address;
  } catch {
    return undefined; // not served by @hono/node-server (e.g. app.request in a test)
  }
}
