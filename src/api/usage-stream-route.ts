import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { GatewayDeps } from '../http/gateway-deps.js';
import { pick } from './problem-responses.js';
import { usageSnapshot } from './usage-snapshot.js';
import { READER_SECURITY } from './usage-routes.js';

/**
 * How often an open stream reads usage again even without a change signal: it catches what
 * the outbox tail cannot see (a new period starting, a plan change, an entry the flusher
 * removed before the tail read it) and doubles as the heartbeat that finds dead clients.
 */
const REFRESH_MS = 15_000;
/** After a failed read (Redis down), the next try. */
const RETRY_MS = 1_000;

/**
 * GET /v1/usage/stream: the subject's usage as server-sent events — `usage` (the body of GET
 * /v1/usage) at once and again after every change, and `expired` when the usage token that
 * opened the stream expires (the stream then ends; mint a new token and reconnect).
 */
export function registerUsageStreamRoute(app: OpenAPIHono, deps: GatewayDeps): void {
  const route = createRoute({
    method: 'get',
    path: '/v1/usage/stream',
    summary: "The subject's usage, live: server-sent `usage` events (the body of GET /v1/usage) on every change",
    description:
      'Opens with the current usage, then sends a new `usage` event whenever a consume, refund, settlement, release, grant, reset or ' +
      'adjustment changes it (and at most every 15 s otherwise, when something changed unseen). With a usage token, an `expired` event ' +
      'ends the stream when the token expires.',
    security: READER_SECURITY,
    responses: {
      200: { description: 'An event stream', content: { 'text/event-stream': { schema: z.string() } } },
      ...pick(401, 503),
    },
  });
  app.openapi(route, (c) => usageStream(c, deps) as never);
}

function usageStream(c: Context, deps: GatewayDeps): Response {
  const subject = c.get('owner').subject;
  const expiresAt = c.get('usageTokenExpiresAt') as number | undefined;
  const response = streamSSE(c, async (stream) => {
    let dirty = true;
    let ended = false;
    let expired = false;
    let wake: (() => void) | undefined;
    const poke = () => wake?.();
    let ready!: () => void;
    const reading = new Promise<void>((resolve) => (ready = resolve));
    const unwatch = deps.usageWatch.watch(subject.id, {
      ready: () => ready(),
      changed: () => {
        dirty = true;
        poke();
      },
      closed: () => {
        ended = true;
        ready();
        poke();
      },
    });
    stream.onAbort(() => {
      ended = true;
      ready();
      poke();
    });
    const refresh = setInterval(() => {
      dirty = true;
      poke();
    }, REFRESH_MS);
    const expiry =
      expiresAt === undefined
        ? undefined
        : setTimeout(
            () => {
              expired = true;
              poke();
            },
            Math.max(0, expiresAt - deps.clock.now()),
          );
    try {
      // Read only once the tail reads: a change made after this snapshot is then always signalled.
      await reading;
      let last = '';
      while (!ended && !expired) {
        if (!dirty) {
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
          continue;
        }
        dirty = false;
        let data: string;
        try {
          const current = await c.get('currentSubject')();
          // The key was revoked or the subject deleted: the stream ends (a reconnect gets its 401).
          if (!current) break;
          data = JSON.stringify(await usageSnapshot(c, deps, current));
        } catch (err) {
          c.get('log').warn({ err }, 'usage stream: reading usage failed; retrying');
          setTimeout(() => {
            dirty = true;
            poke();
          }, RETRY_MS).unref();
          continue;
        }
        // Unchanged (a refresh, or an event that moved nothing): a comment keeps the connection checked.
        await stream.write(data === last ? ': unchanged\n\n' : `event: usage\ndata: ${data}\n\n`);
        last = data;
      }
      if (expired && !ended) await stream.writeSSE({ event: 'expired', data: '{}' });
    } finally {
      clearInterval(refresh);
      if (expiry) clearTimeout(expiry);
      unwatch();
    }
  });
  // As the dashboard feed: a shutting-down gateway may close the connection when the stream ends.
  response.headers.set('connection', 'close');
  response.headers.set('cache-control', 'no-store');
  return response;
}
