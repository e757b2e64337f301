import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/gateway/app.js';
import { startGatewayFixture, type GatewayFixture } from '../support/gateway.js';

let gw: GatewayFixture;
beforeAll(async () => {
  gw = await startGatewayFixture();
});
afterAll(() => gw?.close());

describe('GET /openapi.json', () => {
  it('declares every route the app serves, proxied routes included', async () => {
    const response = await gw.request('/openapi.json');
    expect(response.status).toBe(200);
    const doc = (await response.json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(doc.openapi).toBe('3.1.0');
    const declared = new Set(Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)));

    // Hono's own list of what is registered: handlers, not middleware (`use` shows as ALL).
    const served = createApp(gw.gateway.deps)
      .routes.filter((r) => r.method !== 'ALL')
      .map((r) => `${r.method} ${r.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}')}`);
    expect(served.length).toBeGreaterThan(10);
    expect(served.filter((route) => !declared.has(route))).toEqual([]);
  });

  it('serves a readable docs page listing the operations', async () => {
    const response = await gw.request('/docs');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/html');
    const html = await response.text();
    expect(html).toContain('/v1/consume');
    expect(html).toContain('/v1/chat/completions');
  });
});
