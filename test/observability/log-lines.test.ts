import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pool } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyStore } from '../../src/auth/key-store.js';
import { startDemoUpstream, type DemoUpstream } from '../../src/demo/upstream.js';
import { SubjectStore } from '../../src/subjects/subject-store.js';
import { spawnCli } from '../support/cli.js';
import { gatewayTestPolicy } from '../support/gateway.js';
import { waitFor } from '../support/ledger-checks.js';
import { freePort, startPrivateRedis, type PrivateRedis } from '../support/redis-server.js';
import { createTestPool, databaseUrl, uniquePrefix } from '../support/services.js';

/**
 * Every line a gateway writes, on stdout and stderr, is one JSON object (pino): no raw
 * stack traces between them, whatever fails — a client hanging up mid-stream, an upstream
 * whose body times out or breaks off, Redis going away. A real `quotagate gateway` process.
 */

let upstream: DemoUpstream;
let redis: PrivateRedis;
let pool: Pool;
let output = '';
let gateway: ReturnType<typeof spawnCli>;
let url: string;
let apiKey: string;

beforeAll(async () => {
  upstream = await startDemoUpstream();
  redis = await startPrivateRedis();
  pool = createTestPool();
  const subjectId = `logs-${process.pid}-${Date.now().toString(36)}`;
  await new SubjectStore(pool).create({ id: subjectId, plan: 'unlimited' });
  apiKey = (await new KeyStore(pool).create(subjectId)).secret;
  const policy = gatewayTestPolicy(upstream.url);
  // The chat route gives up on a silent upstream body after 1 s.
  const routes = policy.routes!.map((r) => (r.name === 'chat' ? { ...r, timeout_ms: 1_000 } : r));
  const policyFile = join(tmpdir(), `qg-log-lines-${process.pid}.json`);
  writeFileSync(policyFile, JSON.stringify({ ...policy, routes }));
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  gateway = spawnCli(['gateway'], {
    REDIS_URL: redis.url,
    DATABASE_URL: databaseUrl(),
    QG_KEY_PREFIX: uniquePrefix('logs'),
    POLICY_FILE: policyFile,
    HOST: '127.0.0.1',
    PORT: String(port),
    LOG_LEVEL: 'debug',
    QG_REDIS_COMMAND_TIMEOUT_MS: '2000',
  });
  gateway.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  gateway.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  await waitFor('the gateway to listen', async () => (await fetch(`${url}/readyz`).catch(() => null))?.ok, 60_000, 100);
}, 120_000);

afterAll(async () => {
  gateway?.kill('SIGKILL');
  await upstream?.close();
  await redis?.dispose();
  await pool?.end();
});

const chat = (headers: Record<string, string>, signal?: AbortSignal) =>
  fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    signal,
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 50, stream: true }),
  });

describe('gateway log lines', () => {
  it('are all JSON through client hang-ups, upstream body timeouts and a lost Redis', async () => {
    // A client that hangs up after the first chunk of a slow stream.
    const aborter = new AbortController();
    const hungUp = await chat({ 'x-demo-chunk-delay-ms': '200' }, aborter.signal);
    const reader = hungUp.body!.getReader();
    await reader.read();
    aborter.abort();
    // An upstream that goes silent mid-stream for longer than the route's timeout.
    const silent = await chat({ 'x-demo-chunk-delay-ms': '1500' });
    await silent.text().catch(() => undefined);
    await waitFor('the body timeout to be reported', () => output.includes('UND_ERR_BODY_TIMEOUT'), 15_000);

    // Redis goes away: requests answer 503, the clients reconnect in the background.
    await redis.stop();
    const res = await fetch(`${url}/v1/consume`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ charges: [{ metric: 'gens', amount: 1 }] }),
    });
    expect(res.status).toBe(503);
    // Long enough for the reconnecting clients to fail a few times.
    await new Promise((r) => setTimeout(r, 1_500));

    const lines = output.split('\n').filter((l) => l.trim() !== '');
    expect(lines.length).toBeGreaterThan(5);
    const notJson = lines.filter((line) => {
      try {
        return typeof JSON.parse(line) !== 'object';
      } catch {
        return true;
      }
    });
    expect(notJson, notJson.join('\n')).toEqual([]);
  });
});
