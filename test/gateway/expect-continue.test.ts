import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGatewayFixture, type GatewayFixture, type TestSubject } from '../support/gateway.js';

/**
 * `Expect: 100-continue` is about the client's connection to the gateway (curl sends it
 * for bodies over 1 MiB): the gateway answers the 100 itself and never forwards the header
 * (undici refuses to send it). The same body is answered the same with or without it.
 */

const BODY = Buffer.alloc(1536 * 1024, 'x'); // 1.5 MiB: streamed to the upstream, not buffered

let gw: GatewayFixture;
let subject: TestSubject;
beforeAll(async () => {
  gw = await startGatewayFixture();
  subject = await gw.createSubject();
});
afterAll(() => gw?.close());

/** POSTs BODY to /v1/exports as curl does: with `expect`, the body waits for the 100 Continue. */
function postLarge(expectContinue: boolean): Promise<{ status: number; continued: boolean; body: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL('/v1/exports', gw.url);
    const headers: Record<string, string | number> = { authorization: `Bearer ${subject.key}`, 'content-type': 'application/octet-stream', 'content-length': BODY.length };
    if (expectContinue) headers.expect = '100-continue';
    let continued = false;
    const req = request(url, { method: 'POST', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, continued, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    if (expectContinue) {
      req.on('continue', () => {
        continued = true;
        req.end(BODY);
      });
    } else req.end(BODY);
  });
}

describe('Expect: 100-continue', () => {
  it('a 1.5 MiB body with Expect: 100-continue is answered as the same body without it', async () => {
    const plain = await postLarge(false);
    expect(plain.status, plain.body).toBe(202);
    const withExpect = await postLarge(true);
    expect(withExpect.continued).toBe(true);
    expect(withExpect.status, withExpect.body).toBe(202);
    // The upstream got the whole body, and no Expect header.
    const last = gw.upstream.requests.at(-1)!;
    expect(last.headers.expect).toBeUndefined();
    expect(await gw.used(subject, 'exports')).toBe(2);
  });
});
