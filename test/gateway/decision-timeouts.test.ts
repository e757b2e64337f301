import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Pool } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyStore } from '../../src/auth/key-store.js';
import { parsePolicy } from '../../src/config/load-policy.js';
import { startDemoUpstream, type DemoUpstream } from '../../src/demo/upstream.js';
import { USAGE_KINDS } from '../../src/ledger/ledger-event.js';
import { KeySchema } from '../../src/redis/keys.js';
import { SubjectStore } from '../../src/subjects/subject-store.js';
import type { WorkerHandle } from '../../src/worker/worker.js';
import { Redis } from 'ioredis';
import { gatewayTestPolicy } from '../support/gateway.js';
import { compareLedger, startTestWorker, waitFor, waitForDrain } from '../support/ledger-checks.js';
import { ownedTempDir, spawnOwned } from '../support/owned-processes.js';
import { freePort, startPrivateRedis, type PrivateRedis } from '../support/redis-server.js';
import { createTestPool, databaseUrl, uniquePrefix } from '../support/services.js';

/**
 * "A 503 never charges", under the faults that made it false (issue 17): a real gateway
 * process on a private Redis, answering a modest concurrent load of every kind of decision
 * (the decision API, reservations, a proxied route charged outright and one with a hold),
 * while the gateway is paused (SIGSTOP 400 ms: a GC pause, CPU starvation) and Redis stalls
 * (DEBUG SLEEP 0.35 s), each several times and then both mixed. The gateway's command
 * timeout is the production 250 ms. Every answer of 503 is checked in the ledger by its
 * request id: nothing charged. At the end ledger == Redis == usage_counters.
 */

const ROOT = new URL('../../', import.meta.url);
const TIMEOUT_MS = 250;
const BURST = 60;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let redis: PrivateRedis;
let inspect: Redis;
let upstream: DemoUpstream;
let pool: Pool;
let worker: WorkerHandle;
let gateway: ReturnType<typeof spawnOwned>;
let gatewayOutput = '';
let url: string;
const prefix = uniquePrefix('timeouts');
const keys = new KeySchema(prefix, 4);
const subjects: { id: string; key: string }[] = [];

beforeAll(async () => {
  redis = await startPrivateRedis({ args: ['--enable-debug-command', 'yes'] });
  inspect = new Redis(redis.url);
  upstream = await startDemoUpstream();
  pool = createTestPool();
  const policy = gatewayTestPolicy(upstream.url);
  const policyFile = join(ownedTempDir('qg-timeouts-').path, 'policy.json');
  writeFileSync(policyFile, JSON.stringify(policy));
  for (let i = 0; i < 8; i++) {
    const id = `timeouts-${process.pid}-${i}-${Date.now().toString(36)}`;
    await new SubjectStore(pool).create({ id, plan: 'unlimited' });
    subjects.push({ id, key: (await new KeyStore(pool).create(id)).secret });
  }

  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  gateway = spawnOwned(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'gateway'], {
    cwd: ROOT,
    env: {
      ...process.env,
      REDIS_URL: redis.url,
      DATABASE_URL: databaseUrl(),
      QG_KEY_PREFIX: prefix,
      QG_PARTITIONS: String(keys.partitions),
      POLICY_FILE: policyFile,
      HOST: '127.0.0.1',
      PORT: String(port),
      QG_REDIS_COMMAND_TIMEOUT_MS: String(TIMEOUT_MS),
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const collect = (chunk: Buffer) => (gatewayOutput = (gatewayOutput + chunk.toString()).slice(-20_000));
  gateway.stdout!.on('data', collect);
  gateway.stderr!.on('data', collect);
  await waitFor(
    'the gateway to be ready',
    async () => {
      if (gateway.exitCode !== null) throw new Error(`the gateway exited:\n${gatewayOutput}`);
      return (await fetch(`${url}/readyz`).catch(() => null))?.ok;
    },
    60_000,
    100,
  );
  worker = await startTestWorker({ keys, redisUrl: redis.url, databaseUrl: databaseUrl(), policy: parsePolicy(policy) });
}, 120_000);

afterAll(async () => {
  // Never leave a stopped process behind.
  if (gateway?.pid !== undefined && gateway.exitCode === null) {
    gateway.kill('SIGCONT');
    gateway.kill('SIGKILL');
  }
  await worker?.close();
  await upstream?.close();
  inspect?.disconnect();
  await pool?.end();
  await redis?.dispose();
});

interface Answer {
  kind: string;
  status: number;
  requestId: string | null;
}

/** One request of a kind, by a subject; what it answered (status 0: no answer within 20 s). */
async function send(kind: number, subject: { key: string }): Promise<Answer> {
  const requests: [string, string, unknown][] = [
    ['consume', '/v1/consume', { charges: [{ metric: 'gens', amount: 1 }] }],
    ['reserve', '/v1/reservations', { charges: [{ metric: 'tokens', amount: 10 }] }],
    ['export', '/v1/exports', { format: 'csv' }],
    ['chat', '/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }], max_tokens: 20 }],
  ];
  const [name, path, body] = requests[kind % requests.length]!;
  try {
    const res = await fetch(`${url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${subject.key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(20_000),
    });
    await res.arrayBuffer();
    return { kind: name, status: res.status, requestId: res.headers.get('x-request-id') };
  } catch {
    return { kind: name, status: 0, requestId: null };
  }
}

/** Bursts of BURST simultaneous requests, one after another, until `faults` has finished. */
async function underLoad(faults: () => Promise<void>): Promise<Answer[]> {
  const answers: Answer[] = [];
  let done = false;
  const load = (async () => {
    for (let round = 0; !done; round++) {
      answers.push(...(await Promise.all(Array.from({ length: BURST }, (_, i) => send(round + i, subjects[i % subjects.length]!)))));
    }
  })();
  await sleep(200);
  await faults();
  await sleep(300);
  done = true;
  await load;
  return answers;
}

const pauseGateway = async () => {
  gateway.kill('SIGSTOP');
  await sleep(400);
  gateway.kill('SIGCONT');
};
const stallRedis = () => inspect.call('DEBUG', 'SLEEP', '0.35').then(() => undefined);

/** For each answer of 503: its request id's net charge in the ledger (usage-moving events only). */
async function chargesOf503s(answers: Answer[]): Promise<{ requestId: string; kind: string; net: number; events: number }[]> {
  const failed = answers.filter((a) => a.status === 503);
  expect(failed.every((a) => a.requestId !== null)).toBe(true);
  const { rows } = await pool.query<{ rid: string; net: string; events: string }>(
    `SELECT split_part(event_id, ':', 1) AS rid, sum(delta) AS net, count(*) AS events
       FROM usage_events
      WHERE subject_id = ANY($1::text[]) AND kind = ANY($2::text[]) AND split_part(event_id, ':', 1) = ANY($3::text[])
      GROUP BY 1`,
    [subjects.map((s) => s.id), [...USAGE_KINDS], failed.map((a) => a.requestId)],
  );
  const byId = new Map(rows.map((r) => [r.rid, r]));
  return failed.map((a) => ({ requestId: a.requestId!, kind: a.kind, net: Number(byId.get(a.requestId!)?.net ?? 0), events: Number(byId.get(a.requestId!)?.events ?? 0) }));
}

/** Once the gateway's background work and the worker are done: every 503 charged nothing. */
async function expectNo503Charged(label: string, answers: Answer[], expect503s: boolean): Promise<void> {
  // Voids still retrying finish within a few of their retry delays; then the outbox drains.
  await sleep(3_000);
  await waitForDrain(inspect, keys);
  const checked = await chargesOf503s(answers);
  const counts = (status: number) => answers.filter((a) => a.status === status).length;
  console.log(
    `[decision-timeouts] ${label}: ${answers.length} requests, ${counts(503)} answered 503 (${checked.filter((c) => c.events > 0).length} of them with usage events: applied, then voided), ` +
      `${counts(0)} unanswered, ${answers.length - counts(503) - counts(0)} other`,
  );
  expect(counts(0), 'every request is answered').toBe(0);
  if (expect503s) expect(counts(503), 'the fault produced timeouts').toBeGreaterThan(0);
  expect(checked.filter((c) => c.net !== 0)).toEqual([]);
}

/** `fault` five times, 300 ms apart, while the load runs. */
const fiveTimesUnderLoad = (fault: () => Promise<unknown>) =>
  underLoad(async () => {
    for (let i = 0; i < 5; i++) {
      await fault();
      await sleep(300);
    }
  });

describe('a 503 never charges', () => {
  it('(a) the gateway paused (SIGSTOP 400 ms) five times under load', async () => {
    await expectNo503Charged('gateway paused', await fiveTimesUnderLoad(pauseGateway), false);
  }, 120_000);

  it('(b) Redis stalled (DEBUG SLEEP 0.35) five times under load', async () => {
    await expectNo503Charged('redis stalled', await fiveTimesUnderLoad(stallRedis), true);
  }, 120_000);

  it('(c) both, mixed: pauses and stalls overlapping', async () => {
    const answers = await underLoad(async () => {
      for (let i = 0; i < 5; i++) {
        const stall = stallRedis();
        await sleep(100 + 50 * i);
        await pauseGateway();
        await stall;
        await sleep(200);
      }
    });
    await expectNo503Charged('mixed', answers, true);
  }, 120_000);

  it('(d) ending reservations while Redis stalls: a 503 means not ended (its retry settles), never a settle that applied', async () => {
    const subject = subjects[0]!;
    const call = (method: string, path: string, json?: unknown) =>
      fetch(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${subject.key}`, 'content-type': 'application/json' },
        body: json === undefined ? undefined : JSON.stringify(json),
        signal: AbortSignal.timeout(20_000),
      });
    const statuses: number[] = [];
    const ids: string[] = [];
    // Stalls at several offsets after the endings are sent, so some land between a request's read of its hold and its ending.
    for (const offsetMs of [0, 3, 6, 10, 15]) {
      const reserved = await Promise.all(Array.from({ length: BURST }, () => call('POST', '/v1/reservations', { charges: [{ metric: 'tokens', amount: 10 }] })));
      expect(reserved.every((r) => r.status === 201)).toBe(true);
      const round = await Promise.all(reserved.map(async (r) => ((await r.json()) as { id: string }).id));
      const ending = Promise.all(
        round.map((id, i) =>
          i % 3 === 0
            ? call('POST', `/v1/reservations/${id}/settle`, { actual: 4 })
            : i % 3 === 1
              ? call('DELETE', `/v1/reservations/${id}`)
              : call('POST', `/v1/reservations/${id}/refund`),
        ),
      );
      await sleep(offsetMs);
      await stallRedis();
      statuses.push(...(await ending).map((r) => r.status));
      ids.push(...round);
    }
    console.log(
      `[decision-timeouts] reservations ended during stalls: ${statuses.filter((s) => s === 200).length} answered 200, ${statuses.filter((s) => s === 503).length} answered 503`,
    );
    expect(statuses.every((s) => s === 200 || s === 503)).toBe(true);
    expect(statuses.filter((s) => s === 503).length).toBeGreaterThan(0);
    // A 503 ended nothing: its retry ends the reservation; a 200 ended it (a retry finds it gone).
    const retries = await Promise.all(ids.map((id) => call('POST', `/v1/reservations/${id}/settle`, { actual: 4 })));
    expect(retries.map((r, i) => [statuses[i], r.status])).toEqual(statuses.map((s) => [s, s === 503 ? 200 : 404]));
  }, 60_000);

  it('ledger == Redis == usage_counters at the end', async () => {
    await waitForDrain(inspect, keys);
    const { rows, mismatches } = await compareLedger(
      pool,
      inspect,
      keys,
      subjects.map((s) => s.id),
    );
    expect(rows.length).toBeGreaterThan(0);
    expect(mismatches).toEqual([]);
    // What the gateway's voids did over the whole run; none gave up.
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const voids = metrics.split('\n').filter((l) => l.startsWith('quotagate_decision_voids_total{'));
    console.log(`[decision-timeouts] ${voids.join(', ') || 'no voids'}`);
    expect(voids.filter((l) => l.includes('outcome="gave_up"'))).toEqual([]);
  }, 60_000);
});
