import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGatewayFixture, type GatewayFixture } from '../support/gateway.js';

let gw: GatewayFixture;
beforeAll(async () => {
  gw = await startGatewayFixture();
});
afterAll(() => gw?.close());

/** Sends a request on a raw socket and closes it after `afterMs`, whatever state the request is in. */
function requestThenHangUp(port: number, request: string, afterMs: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(request);
      setTimeout(() => {
        socket.destroy();
        resolve();
      }, afterMs);
    });
    socket.on('error', () => resolve());
  });
}

describe('clients that hang up at any moment', () => {
  it('never take the gateway down (no unhandled error escapes a request)', async () => {
    const subject = await gw.createSubject({ plan: 'unlimited' });
    const port = Number(new URL(gw.url).port);
    const body = JSON.stringify({ name: 'x' });
    const request = `POST /v1/exports HTTP/1.1\r\nhost: gateway\r\nauthorization: Bearer ${subject.key}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`;
    const uncaught: unknown[] = [];
    const record = (err: unknown) => uncaught.push(err);
    process.on('uncaughtException', record);
    try {
      // Spread over the request's life: before the decision, during the upstream call, mid-response.
      await Promise.all(Array.from({ length: 800 }, (_, i) => requestThenHangUp(port, request, i % 20)));
      await gw.settled();
    } finally {
      process.off('uncaughtException', record);
    }
    expect(uncaught).toEqual([]);
    expect((await gw.request('/healthz')).status).toBe(200);
  });
});
