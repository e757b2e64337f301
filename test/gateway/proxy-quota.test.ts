import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGatewayFixture, type GatewayFixture } from '../support/gateway.js';

let gw: GatewayFixture;
beforeAll(async () => {
  gw = await startGatewayFixture();
});
afterAll(() => gw?.close());

describe('proxied requests under concurrency', () => {
  it('lets exactly the 50 remaining of 200 simultaneous requests reach the upstream; the rest get 402', async () => {
    const subject = await gw.createSubject();
    const before = gw.upstream.requests.length;
    const responses = await Promise.all(
      Array.from({ length: 200 }, () =>
        gw.request('/v1/chat/completions', { method: 'POST', key: subject.key, json: { messages: [{ role: 'user', content: 'hi' }], max_tokens: 1 } }),
      ),
    );
    const statuses = responses.map((r) => r.status);
    await Promise.all(responses.map((r) => r.arrayBuffer()));
    await gw.settled();
    const reached = gw.upstream.requests.slice(before).filter((r) => r.path === '/v1/chat/completions');
    expect(statuses.filter((s) => s === 200)).toHaveLength(50);
    expect(statuses.filter((s) => s === 402)).toHaveLength(150);
    expect(reached).toHaveLength(50);
    expect(await gw.used(subject, 'gens')).toBe(50);
  });
});
