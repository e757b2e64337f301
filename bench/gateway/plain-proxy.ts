import { Readable } from 'node:stream';
import { getConnInfo } from '@hono/node-server/conninfo';
import { Hono } from 'hono';
import { newId } from '../../src/lib/ids.js';
import { clientResponseHeaders, upstreamRequestHeaders } from '../../src/proxy/headers.js';
import { arrivedWhole } from '../../src/proxy/relay.js';
import { declaresSmallBody } from '../../src/proxy/small-body.js';
import type { UpstreamClient } from '../../src/proxy/upstream-client.js';
import { ROUTE } from './workload.js';

/**
 * The benchmark's baseline: the same route proxied by a plain Hono app with the gateway's
 * own upstream client and header rules (so the same keep-alive pool, the same headers
 * upstream and back) and the same body handling (small bodies passed whole, the rest
 * streamed), but with no API key, quota, metrics or request logger. What the gateway adds
 * on top of this is what the benchmark measures.
 */
export function plainProxyApp(upstreamUrl: string, upstream: UpstreamClient): Hono {
  const app = new Hono();
  app.on(ROUTE.method, ROUTE.path, async (c) => {
    const request = c.req.raw;
    const url = new URL(request.url);
    const response = await upstream.send({
      url: new URL(url.pathname + url.search, upstreamUrl).toString(),
      method: request.method,
      headers: upstreamRequestHeaders(request.headers, {
        subjectId: 'anonymous',
        requestId: newId(),
        clientIp: getConnInfo(c).remote.address,
        identity: false,
      }),
      body: !request.body ? null : declaresSmallBody(request.headers.get('content-length')) ? Buffer.from(await request.arrayBuffer()) : Readable.fromWeb(request.body as never),
      timeoutMs: 30_000,
    });
    const headers = clientResponseHeaders(response.headers);
    const whole = response.headers['content-type']?.toString().startsWith('text/event-stream') ? null : await arrivedWhole(response.body);
    if (whole) return new Response(whole, { status: response.status, headers });
    // Not Readable.toWeb: on Node 20 it can enqueue into a closed controller and crash the process.
    return new Response(ReadableStream.from(response.body), {
      status: response.status,
      headers,
    });
  });
  return app;
}
