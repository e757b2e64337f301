import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkerHandle } from '../../src/worker/worker.js';
import { startGatewayFixture, type GatewayFixture, type TestSubject } from '../support/gateway.js';
import { compareLedger, startTestWorker, waitForDrain, workerEnvVars } from '../support/ledger-checks.js';
import { databaseUrl } from '../support/services.js';
import { startTcpProxy, targetOf, type TcpProxy } from '../support/tcp-proxy.js';
import { spawnWorkerProcess, type WorkerProcess } from '../support/worker-process.js';

/**
 * SPEC "Nothing is lost" and the 503 promise, under everything at once: a steady load of
 * decisions at the production command timeout while the worker process is SIGKILLed and
 * restarted every 2 s and Postgres goes away (every connection of the gateway and the
 * worker dropped, new ones refused, as in a restart) for 3 s. Afterwards each answer is
 * checked against the ledger by its request id: a 200 charged exactly once, anything else
 * (402, 429, 503) charged nothing; and ledger == usage_counters == Redis.
 */

const SUBJECTS = 40;
const ALLOWANCE = 50; // the `test` plan's gens
const WAVES = 40;
const WAVE_SIZE = 80;
const WAVE_EVERY_MS = 250;
const KILL_EVERY_MS = 2_000;

interface Answer {
  subject: string;
  status: number;
  requestId: string;
}

let proxy: TcpProxy;
let gw: GatewayFixture;
let child: WorkerProcess | undefined;
let worker: WorkerHandle | undefined;
const subjects: TestSubject[] = [];

beforeAll(async () => {
  proxy = await startTcpProxy(targetOf(databaseUrl()));
  // The production command timeout: 503s from slow replies are part of what is checked.
  gw = await startGatewayFixture({ env: { DATABASE_URL: proxy.rewrite(databaseUrl()), QG_REDIS_COMMAND_TIMEOUT_MS: '250' } });
  for (let i = 0; i < SUBJECTS; i++) subjects.push(await gw.createSubject({ plan: 'test' }));
});
afterAll(async () => {
  proxy?.unblock();
  await child?.kill9();
  await worker?.close();
  await gw?.close();
  await proxy?.close();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function consume(subject: TestSubject): Promise<Answer> {
  const res = await gw.request('/v1/consume', { method: 'POST', key: subject.key, json: { charges: [{ metric: 'gens', amount: 1 }] } });
  await res.arrayBuffer();
  return { subject: subject.id, status: res.status, requestId: res.headers.get('x-request-id') ?? '' };
}

/** Net units the ledger holds per request id (consume events and their refunds share the id as their base). */
async function netByRequest(subjectIds: readonly string[]): Promise<Map<string, number>> {
  const { rows } = await gw.pool.query<{ request_id: string; net: string }>(
    `SELECT split_part(event_id, ':', 1) AS request_id, sum(delta) AS net
       FROM usage_events WHERE subject_id = ANY($1::text[]) AND metric = 'gens' GROUP BY 1`,
    [subjectIds],
  );
  return new Map(rows.map((r) => [r.request_id, Number(r.net)]));
}

describe('decisions under worker kills and a Postgres restart', () => {
  it('charges every 200 once and no other answer, and the ledger, usage_counters and Redis agree', async () => {
    // Each key verified (and mirrored) and each subject's keys hydrated before the chaos.
    const warm = await Promise.all(subjects.map(consume));
    expect(warm.map((a) => a.status)).toEqual(subjects.map(() => 200));

    const workerEnv = workerEnvVars(gw.keys, gw.redisUrl, proxy.rewrite(databaseUrl()));
    child = spawnWorkerProcess(workerEnv);
    let stopped = false;
    const killer = (async () => {
      while (!stopped) {
        await sleep(KILL_EVERY_MS);
        await child!.kill9();
        child = spawnWorkerProcess(workerEnv);
      }
    })();
    const restart = (async () => {
      await sleep((WAVES * WAVE_EVERY_MS) / 3);
      proxy.block('refuse');
      await sleep(3_000);
      proxy.unblock();
    })();

    const answers: Answer[] = [...warm];
    const waves: Promise<void>[] = [];
    for (let w = 0; w < WAVES; w++) {
      waves.push(
        Promise.all(Array.from({ length: WAVE_SIZE }, (_, i) => consume(subjects[(w * WAVE_SIZE + i) % SUBJECTS]!))).then((a) => {
          answers.push(...a);
        }),
      );
      await sleep(WAVE_EVERY_MS);
    }
    await Promise.all(waves);
    await restart;
    stopped = true;
    await killer;
    await child.kill9();

    // A worker that stays drains what the killed ones left (their pending entries are claimed).
    worker = await startTestWorker({ keys: gw.keys, redisUrl: gw.redisUrl, databaseUrl: databaseUrl() });
    await waitForDrain(gw.redis, gw.keys, 60_000);

    const ids = subjects.map((s) => s.id);
    const net = await netByRequest(ids);
    const byStatus = (status: number) => answers.filter((a) => a.status === status);
    expect(answers.every((a) => a.requestId !== '')).toBe(true);
    const wrong = answers.filter((a) => (net.get(a.requestId) ?? 0) !== (a.status === 200 ? 1 : 0));
    const seen = (list: Answer[]) => JSON.stringify(list.slice(0, 5).map((a) => ({ ...a, net: net.get(a.requestId) ?? 0 })));
    expect(wrong, `${wrong.length} of ${answers.length} answers (${byStatus(503).length} of them 503) disagree with their charge: ${seen(wrong)}`).toEqual([]);
    // Every charge in the ledger belongs to a 200.
    expect([...net.values()].reduce((a, b) => a + b, 0)).toBe(byStatus(200).length);
    for (const s of subjects) expect(answers.filter((a) => a.subject === s.id && a.status === 200).length).toBeLessThanOrEqual(ALLOWANCE);
    // The load was enough to exhaust allowances: the 402s are real denials, not a quiet run.
    expect(byStatus(402).length).toBeGreaterThan(0);

    const { mismatches } = await compareLedger(gw.pool, gw.redis, gw.keys, ids);
    expect(mismatches).toEqual([]);
  });
});
