import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Pool } from 'pg';
import { Agent, fetch as fetchWith } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyStore } from '../../src/auth/key-store.js';
import { startDemoUpstream, type DemoUpstream } from '../../src/demo/upstream.js';
import { KeySchema } from '../../src/redis/keys.js';
import { SubjectStore } from '../../src/subjects/subject-store.js';
import { spawnCli } from '../support/cli.js';
import { waitFor } from '../support/ledger-checks.js';
import { readOutboxEvents } from '../support/outbox.js';
import { freePort } from '../support/redis-server.js';
import { cleanupPrefix, createTestPool, createTestRedis, databaseUrl, redisUrl, uniquePrefix } from '../support/services.js';

/**
 * SIGTERM, as Docker and Kubernetes send it, to real `quotagate gateway` and `quotagate
 * worker` processes: the gateway stops accepting at once, lets a slow in-flight request
 * finish and settle, and exits 0; the worker flushes what the outbox holds into Postgres
 * before it exits 0.
 */

const POLICY_FILE = fileURLToPath(new URL('../../config/policy.yaml', import.meta.url));
const SLOW_MS = 2_000;

interface Service {
  child: ChildProcess;
  /** Its stdout and stderr so far (JSON log lines). */
  output(): string;
  exit: Promise<number | null>;
}

function startService(command: string, env: Record<string, string>): Service {
  const child = spawnCli([command], env);
  let output = '';
  const collect = (chunk: Buffer) => (output += chunk.toString());
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exit };
}

const exited = (s: Service) => s.child.exitCode !== null || s.child.signalCode !== null;

async function stop(s: Service | undefined): Promise<void> {
  if (!s || exited(s)) return;
  s.child.kill('SIGKILL');
  await s.exit;
}

describe('graceful shutdown on SIGTERM', () => {
  const prefix = uniquePrefix('shutdown');
  const keys = new KeySchema(prefix, 16);
  const redis = createTestRedis();
  let pool: Pool;
  let upstream: DemoUpstream;
  let gateway: Service;
  let worker: Service;
  let gatewayUrl: string;
  const subjectId = `shutdown-${process.pid}-${Date.now().toString(36)}`;
  let apiKey: string;

  beforeAll(async () => {
    pool = createTestPool();
    upstream = await startDemoUpstream();
    await new SubjectStore(pool).create({ id: subjectId, plan: 'starter' });
    apiKey = (await new KeyStore(pool).create(subjectId)).secret;

    const port = await freePort();
    gatewayUrl = `http://127.0.0.1:${port}`;
    const env = {
      REDIS_URL: redisUrl(),
      DATABASE_URL: databaseUrl(),
      QG_KEY_PREFIX: prefix,
      POLICY_FILE,
      // The shipped policy, its routes pointed at this test's demo upstream.
      DEMO_UPSTREAM_URL: upstream.url,
      LOG_LEVEL: 'info',
    };
    gateway = startService('gateway', { ...env, HOST: '127.0.0.1', PORT: String(port), QG_REDIS_COMMAND_TIMEOUT_MS: '5000' });
    // Flushes only at start and on shutdown within this test: what reaches Postgres after
    // the request got there through the final flush.
    worker = startService('worker', { ...env, QG_FLUSH_INTERVAL_MS: '60000' });
    await waitFor(
      'the gateway to listen',
      async () => {
        if (exited(gateway)) throw new Error(`the gateway exited:\n${gateway.output()}`);
        return (await fetch(`${gatewayUrl}/readyz`).catch(() => null))?.ok;
      },
      60_000,
      100,
    );
    await waitFor('the worker to start', () => (exited(worker) ? Promise.reject(new Error(worker.output())) : /worker started/.test(worker.output())), 60_000, 100);
  }, 120_000);

  afterAll(async () => {
    // Only when the test failed half-way: it stops both itself.
    await stop(gateway);
    await stop(worker);
    await upstream?.close();
    await cleanupPrefix(redis, prefix);
    redis.disconnect();
    await pool?.end();
  });

  it('finishes and settles the in-flight request, refuses new connections, flushes the ledger and exits 0', async () => {
    // A client that would keep its idle connection for 10 minutes: a gateway that waited for
    // idle keep-alive connections to go away would never exit within the test.
    const client = new Agent({ keepAliveTimeout: 600_000, keepAliveMaxTimeout: 600_000 });
    let answered = false;
    const slow = fetchWith(`${gatewayUrl}/v1/chat/completions`, {
      dispatcher: client,
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', 'x-demo-delay-ms': String(SLOW_MS) },
      body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 500 }),
    }).then(async (res) => {
      const body = (await res.json()) as { usage: { total_tokens: number } };
      answered = true;
      return { status: res.status, requestId: res.headers.get('x-request-id'), body };
    });
    // The request is decided (its consume event is in the outbox) and waiting on the upstream.
    await waitFor('the request to be decided', async () => (await readOutboxEvents(redis, keys, subjectId)).length > 0, 10_000);

    gateway.child.kill('SIGTERM');
    await waitFor('new connections to be refused', async () => {
      const refused = await fetch(`${gatewayUrl}/healthz`).then(
        () => false,
        (err: Error & { cause?: { code?: string } }) => err.cause?.code === 'ECONNREFUSED',
      );
      return refused || null;
    });
    expect(answered, 'refused while the slow request was still in flight').toBe(false);

    const answer = await slow;
    expect(answer.status).toBe(200);
    expect(answer.requestId).toBeTruthy();
    // Not held open by the client's idle keep-alive connection.
    expect(await gateway.exit, gateway.output()).toBe(0);
    await client.close();
    // Settled before the gateway exited: the reserved 500 tokens became the actual usage.
    const outbox = await readOutboxEvents(redis, keys, subjectId);
    const settle = outbox.find((e) => e.kind === 'settle' && e.metric === 'ai_tokens');
    expect(settle, JSON.stringify(outbox)).toBeDefined();

    worker.child.kill('SIGTERM');
    expect(await worker.exit, worker.output()).toBe(0);
    const { rows } = await pool.query<{ kind: string; metric: string }>('SELECT kind, metric FROM usage_events WHERE subject_id = $1', [subjectId]);
    expect(rows.map((r) => `${r.kind} ${r.metric}`)).toEqual(expect.arrayContaining(['consume ai_generations', 'consume ai_tokens', 'settle ai_tokens']));
    expect(rows).toHaveLength(outbox.length);
    expect(await redis.xlen(keys.outbox(keys.partitionOf(subjectId)))).toBe(0);
    expect(answer.body.usage.total_tokens).toBeGreaterThan(0);
    expect(gateway.output()).toMatch(/"msg":"shutting down"/);
  });
});
