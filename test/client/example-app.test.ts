import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPolicyFile } from '../../src/config/load-policy.js';
import { USAGE_TOKEN_SECRET } from '../support/browser-page.js';
import { startGatewayFixture, type GatewayFixture, type TestSubject } from '../support/gateway.js';
import { spawnOwned } from '../support/owned-processes.js';

/**
 * examples/hono-app as `npm run example` runs it (`tsx server.ts`, its own process, the API
 * key and the gateway's URL from the environment) against a real gateway: the protected
 * routes charge through the middleware and answer the gateway's 402 once the plan runs out
 * (the handler does not run), a deleted project gives its gauge back, and the page and what
 * it loads never carry the API key. The page's live bars in Chromium: usage-widget.test.ts.
 * Needs the built package (`npm test` builds it first; `npm run example` builds it too).
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const EXAMPLE = join(ROOT, 'examples/hono-app');
/** Generous: tsx compiles the app at start on a shared machine. */
const START_TIMEOUT_MS = 60_000;

/** Starts the example's server on a free port; resolves with its URL from the line it prints. */
async function startExample(env: Record<string, string>): Promise<{ url: string; child: ChildProcess }> {
  const child = spawnOwned(join(ROOT, 'node_modules/.bin/tsx'), ['server.ts'], {
    cwd: EXAMPLE,
    env: { ...process.env, ...env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the example app did not start:\n${output}`)), START_TIMEOUT_MS);
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
      const started = /example app on (http:\/\/127\.0\.0\.1:\d+) /.exec(output);
      if (started) {
        clearTimeout(timer);
        resolve(started[1]!);
      }
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the example app exited (${code}):\n${output}`));
    });
  });
  return { url, child };
}

let gw: GatewayFixture;
let subject: TestSubject;
let app: { url: string; child: ChildProcess };
beforeAll(async () => {
  if (!existsSync(join(ROOT, 'packages/client/dist/middleware/hono.js'))) {
    throw new Error('packages/client is not built: `npm test` builds it, or run `npm run build -w @quotagate/client`');
  }
  const shipped = loadPolicyFile('config/policy.yaml');
  gw = await startGatewayFixture({ policy: () => shipped, env: { QG_USAGE_TOKEN_SECRET: USAGE_TOKEN_SECRET } });
  // Plan `starter`: 100 ai_generations, 10 projects, and a rate (20/s, burst 40) this file stays under.
  subject = await gw.createSubject({ plan: 'starter' });
  app = await startExample({ QUOTAGATE_API_KEY: subject.key, QUOTAGATE_URL: gw.url });
});
afterAll(async () => {
  if (app && app.child.exitCode === null) {
    const exited = once(app.child, 'exit');
    app.child.kill('SIGTERM');
    await exited;
  }
  await gw?.close();
});

/** The example app's status for a GET of `path` exactly as written, dots included (fetch would resolve them). */
function statusOfRawPath(path: string): Promise<number> {
  const { hostname, port } = new URL(app.url);
  return new Promise((resolve, reject) => {
    http
      .get({ hostname, port, path }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
      .on('error', reject);
  });
}

const post = (path: string) => fetch(`${app.url}${path}`, { method: 'POST' });

describe('examples/hono-app against a real gateway', () => {
  it('charges a generation through the middleware, then answers 402 once the plan runs out, without running the handler', async () => {
    // Another backend of the same subject used all but one.
    const consumed = await gw.request('/v1/consume', { method: 'POST', key: subject.key, json: { charges: [{ metric: 'ai_generations', amount: 99 }] } });
    expect(consumed.status).toBe(200);

    const last = await post('/api/generate');
    expect(last.status).toBe(200);
    expect(await last.json()).toEqual({ text: 'Hello from the model', ai_generations_used: 100 });

    const denied = await post('/api/generate');
    expect(denied.status).toBe(402);
    expect(denied.headers.get('content-type')).toContain('application/problem+json');
    expect(denied.headers.get('ratelimit')).toContain('"ai_generations";r=0');
    const problem = (await denied.json()) as { code: string; text?: string };
    expect(problem.code).toBe('quota_exceeded');
    expect(problem.text).toBeUndefined();
    expect(await gw.used(subject, 'ai_generations')).toBe(100);
  });

  it('a project is a gauge: 402 at the limit, and deleting one gives it back', async () => {
    await gw.request('/v1/consume', { method: 'POST', key: subject.key, json: { charges: [{ metric: 'projects', amount: 9 }] } });
    const created = await post('/api/projects');
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    expect((await post('/api/projects')).status).toBe(402);

    const deleted = await fetch(`${app.url}/api/projects/${id}`, { method: 'DELETE' });
    expect(deleted.status).toBe(200);
    expect(await gw.used(subject, 'projects')).toBe(9);
    expect((await post('/api/projects')).status).toBe(201);
    expect(await gw.used(subject, 'projects')).toBe(10);
  });

  it('serves the widget page, its scripts and a usage token, never the API key', async () => {
    const page = await fetch(app.url);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain(`<quotagate-usage gateway="${gw.url}" token-url="/usage-token">`);
    expect(html).not.toContain(subject.key);

    // What the page's module graph loads: the element, the watcher and what it imports.
    const scripts = ['web-component.js', 'usage/watch-usage.js', 'usage/sse-events.js', 'errors.js', 'transport.js'].map((file) => `/quotagate/${file}`);
    for (const path of scripts) {
      const script = await fetch(`${app.url}${path}`);
      expect(script.status, path).toBe(200);
      expect(script.headers.get('content-type')).toContain('text/javascript');
      expect(await script.text()).not.toContain(subject.key);
    }
    // Only the package's built modules: nothing above them (../../../ would be the repository's root;
    // the server resolves the dots before routing, the app checks again), nothing that is not a script.
    expect(await statusOfRawPath('/quotagate/../../../eslint.config.js')).toBe(404);
    expect(await statusOfRawPath('/quotagate/usage/../web-component.js')).toBe(200);
    expect((await fetch(`${app.url}/quotagate/web-component.d.ts`)).status).toBe(404);

    const minted = await fetch(`${app.url}/usage-token`);
    expect(minted.headers.get('cache-control')).toBe('no-store');
    const { token } = (await minted.json()) as { token: string };
    expect(token).toMatch(/^qgu_/);
    expect(token).not.toContain(subject.key);
    // The token reads this subject's usage (that it can do nothing else: test/gateway/usage-tokens.test.ts).
    const usage = await fetch(`${gw.url}/v1/usage`, { headers: { authorization: `Bearer ${token}` } });
    expect(usage.status).toBe(200);
    expect(((await usage.json()) as { subject: string }).subject).toBe(subject.id);
  });
});
