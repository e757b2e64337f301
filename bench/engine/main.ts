/**
 * `npm run bench:engine`: decisions per second of the consume script through QuotaEngine
 * (10,000 subjects, ioredis auto-pipelining off and on), beside redis-benchmark's EVALSHA
 * rate for the same script text and arguments, and beside rate-limiter-flexible's
 * RateLimiterRedis.consume, all on the same Redis in the same run. Writes the
 * "Engine (npm run bench:engine)" section of bench/RESULTS.md.
 *
 * Environment: BENCH_REDIS_URL (default: a private redis-server), BENCH_DURATION_MS (5000),
 * BENCH_WARMUP_MS (1000), BENCH_CONCURRENCY (256).
 */
import { createHash, randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { QuotaEngine } from '../../src/quota/engine.js';
import { KeySchema } from '../../src/redis/keys.js';
import { loadLua } from '../../src/redis/lua.js';
import { engineReport, printReport, type Phase } from './report.js';
import { envInt } from '../shared/env.js';
import { benchPolicy, consumeInput, EmptyLedger, RecordingScripts, substituted, SUBJECT_PLACEHOLDER, subjectId, subjects, SUBJECTS } from '../shared/consume-workload.js';
import { newId } from '../../src/lib/ids.js';
import { runLoad, measureWindow, type LoadOptions } from '../shared/load.js';
import { benchRedis, type BenchRedis } from '../shared/private-redis.js';
import { redisBenchmarkCommandLine, runRedisBenchmark, type RedisBenchmarkRun } from './redis-benchmark.js';
import { deletePrefix } from '../shared/redis-keys.js';
import { redisStats, redisVersion, statsDelta, type RedisStats } from '../shared/redis-stats.js';
import { runInfo, saveFigures } from '../shared/results.js';
import { renderResults } from '../render.js';
import { runBenchmark } from '../shared/run-benchmark.js';

const LOAD: LoadOptions = {
  concurrency: envInt('BENCH_CONCURRENCY', 256),
  warmupMs: envInt('BENCH_WARMUP_MS', 1_000),
  durationMs: envInt('BENCH_DURATION_MS', 5_000),
};
/** The deployment default (QG_PARTITIONS). */
const PARTITIONS = 16;
const BENCHMARK_CLIENTS = 50;
const BENCHMARK_PIPELINES = [1, 16];

let cleanup: (() => Promise<void>) | undefined;

async function main(): Promise<void> {
  const server: BenchRedis = await benchRedis();
  const prefix = `qgbench-${randomBytes(4).toString('hex')}`;
  const clients: Redis[] = [];
  const client = (enableAutoPipelining: boolean) => {
    const c = new Redis(server.url, { enableAutoPipelining, maxRetriesPerRequest: 2 });
    clients.push(c);
    return c;
  };
  const admin = client(false);
  let cleaned = false;
  cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    // A private server is thrown away whole; on a shared one, only this run's keys go.
    if (!server.owned) await deletePrefix(admin, prefix).catch((err) => console.error(`could not delete ${prefix}:* keys: ${err}`));
    for (const c of clients) c.disconnect();
    await server.stop();
  };

  try {
    console.log(`Redis: ${server.describe}; key prefix ${prefix}`);
    const version = await redisVersion(admin);
    const policy = benchPolicy();
    const subs = subjects();
    const ledger = new EmptyLedger();
    const keys = new KeySchema(prefix, PARTITIONS);
    const outboxes = [...new Set(Array.from({ length: PARTITIONS }, (_, p) => keys.outbox(p)))];
    // The flusher drains outboxes in production; here each phase starts with empty ones.
    const drainOutboxes = () => admin.del(...outboxes);

    // 1. Warm-up: hydrate every subject once, so no measured decision needs the ledger.
    const setupScripts = new RecordingScripts(admin, 'consume');
    await setupScripts.preload();
    const sha = createHash('sha1').update(loadLua('consume')).digest('hex');
    const loaded = (await admin.script('LOAD', loadLua('consume'))) as string;
    if (loaded !== sha) throw new Error(`SCRIPT LOAD answered ${loaded}, expected ${sha}`);
    const setupEngine = new QuotaEngine({ redis: admin, keys, policy, hydrator: ledger, scripts: setupScripts });
    const hydrated = await measureWindow(() => forEachConcurrently(subs, LOAD.concurrency, (s) => expectAllowed(setupEngine.consume(consumeInput(s)))));
    console.log(`warm-up: hydrated ${ledger.calls} subjects in ${hydrated.window.seconds.toFixed(1)} s`);

    // 2. redis-benchmark's keys: redis-benchmark cannot compute a subject's partition, so its
    //    calls address partition 0 for every subject (a 1-partition schema). On one Redis the
    //    partition only names the keys; the script's work is the same. The same warm-up
    //    hydrates them, and records the exact KEYS/ARGV the engine sends.
    //    Its clock stands still, so the recorded call's time can be found (and replaced) by value.
    const benchKeys = new KeySchema(prefix, 1);
    const recordedAt = Date.now();
    const benchEngine = new QuotaEngine({ redis: admin, keys: benchKeys, policy, hydrator: ledger, scripts: setupScripts, clock: { now: () => recordedAt } });
    await forEachConcurrently(subs, LOAD.concurrency, (s) => expectAllowed(benchEngine.consume(consumeInput(s))));
    const requestId = newId();
    await expectAllowed(benchEngine.consume({ ...consumeInput(subs[0]!), requestId }));
    const recorded = setupScripts.calls.at(-1)!;
    // A UUID's last group is 12 hex digits: `__rand_int__` keeps it the same length.
    const { keys: templateKeys, args: templateArgs } = substituted(recorded, [
      [subjectId(0), SUBJECT_PLACEHOLDER],
      [requestId, `${requestId.slice(0, -12)}__rand_int__`],
    ]);
    const template = ['EVALSHA', sha, String(templateKeys.length), ...templateKeys, ...templateArgs];
    const denialKey = recorded.keys.find((key) => key.includes(':denials:'));
    if (!denialKey) throw new Error(`the recorded consume call has no denial tally key: ${recorded.keys.join(' ')}`);

    const phases: Phase[] = [];
    const probe = () => redisStats(admin);
    const hydrationsBefore = ledger.calls;

    // 3. The ceiling: redis-benchmark, EVALSHA of the same script with the same arguments.
    const concrete = template.map((a) => a.replaceAll('__rand_int__', '000000000042'));
    const oneOff = (await admin.evalsha(concrete[1]!, concrete[2]!, ...concrete.slice(3))) as unknown[];
    if (oneOff[0] !== 1) throw new Error(`one-off EVALSHA of the redis-benchmark command answered ${JSON.stringify(oneOff)}, expected code 1 (allowed)`);
    console.log(`one-off EVALSHA of the redis-benchmark command: code ${String(oneOff[0])} (allowed)`);
    let benchmarkLine = '';
    for (const pipeline of BENCHMARK_PIPELINES) {
      await drainOutboxes();
      const run = (requests: number): RedisBenchmarkRun => ({
        cliArgs: server.cliArgs,
        requests,
        clients: BENCHMARK_CLIENTS,
        pipeline,
        keyspace: SUBJECTS,
        // A fresh `now` per run: a fixed one would pile up each subject's rate state.
        command: withNow(template, recordedAt, Date.now()),
      });
      // A short calibration run sizes the measured one to about the same duration as the others.
      const calibration = 20_000; // a whole number of rounds for every -P used
      const probeRps = await runRedisBenchmark(run(calibration));
      // ≤ 120 calls per subject, well under the burst of 200 its fixed `now` allows.
      // A whole number of rounds of every client's pipeline, so redis-benchmark sends exactly that many.
      const round = BENCHMARK_CLIENTS * pipeline;
      const requests = round * Math.round(Math.min(Math.max((probeRps * LOAD.durationMs) / 1000, 50_000), 120 * SUBJECTS) / round);
      const measured = run(requests);
      if (pipeline === 1) benchmarkLine = redisBenchmarkCommandLine(measured, Infinity);
      const before = await probe();
      const { result: rps, window } = await measureWindow(() => runRedisBenchmark(measured));
      const redis = statsDelta(before, await probe());
      // Every call must have been allowed and applied: one outbox event each, no denial tally.
      const events = await admin.xlen(benchKeys.outbox(0));
      if (events !== calibration + requests)
        throw new Error(`redis-benchmark -P ${pipeline}: ${events} outbox events for ${calibration + requests} calls: not every call was allowed`);
      if ((await admin.exists(denialKey)) !== 0) throw new Error(`redis-benchmark -P ${pipeline}: denials were tallied`);
      phases.push({
        name: `redis-benchmark EVALSHA, -c ${BENCHMARK_CLIENTS} -P ${pipeline}`,
        kind: 'ceiling',
        rate: rps,
        ops: requests,
        seconds: window.seconds,
        clientCores: Math.max(0, window.machineCores - redis.cpuSeconds / window.seconds),
        machineCores: window.machineCores,
        redis,
        clientIsEstimate: true,
      });
      console.log(`redis-benchmark -P ${pipeline}: ${rps.toFixed(0)} EVALSHA/s (${requests} calls, all allowed)`);
    }

    // 4. The engine, one connection, auto-pipelining off and on.
    for (const autoPipelining of [false, true]) {
      await drainOutboxes();
      const engine = new QuotaEngine({ redis: client(autoPipelining), keys, policy, hydrator: ledger });
      const result = await runLoad(() => expectAllowed(engine.consume(consumeInput(pick(subs)))), LOAD, probe);
      phases.push(loadPhase(`engine.consume, auto-pipelining ${autoPipelining ? 'on' : 'off'}`, 'engine', result));
      console.log(`engine, auto-pipelining ${autoPipelining ? 'on ' : 'off'}: ${result.rate.toFixed(0)} decisions/s`);
    }

    // 5. rate-limiter-flexible on the same Redis, same subjects, concurrency and duration.
    for (const autoPipelining of [false, true]) {
      const limiter = new RateLimiterRedis({ storeClient: client(autoPipelining), keyPrefix: `${prefix}:rlf`, points: 1_000_000_000, duration: 60 });
      const result = await runLoad(async () => void (await limiter.consume(pick(subs).id)), LOAD, probe);
      phases.push(loadPhase(`rate-limiter-flexible RateLimiterRedis.consume, auto-pipelining ${autoPipelining ? 'on' : 'off'}`, 'rlf', result));
      console.log(`rate-limiter-flexible, auto-pipelining ${autoPipelining ? 'on ' : 'off'}: ${result.rate.toFixed(0)} consumes/s`);
    }
    await drainOutboxes();

    const figures = {
      run: runInfo(),
      phases,
      load: LOAD,
      redisVersion: version,
      redis: server.describe,
      sha,
      benchmarkLine,
      hydrationsDuringMeasurement: ledger.calls - hydrationsBefore,
      partitions: PARTITIONS,
    };
    printReport(engineReport(figures));
    console.log(`\nsaved ${saveFigures('engine', figures)}; rendered ${renderResults()}`);
  } finally {
    await cleanup();
  }
}

/** The `EVALSHA <sha> <numkeys> <keys…> <args…>` template with the recorded time replaced in ARGV. */
function withNow(template: readonly string[], recordedAt: number, now: number): string[] {
  const firstArg = 3 + Number(template[2]);
  return template.map((a, i) => (i >= firstArg ? a.replaceAll(String(recordedAt), String(now)) : a));
}

function loadPhase(name: string, kind: Phase['kind'], result: Awaited<ReturnType<typeof runLoad<RedisStats>>>): Phase {
  return {
    name,
    kind,
    rate: result.rate,
    ops: result.ops,
    seconds: result.seconds,
    clientCores: result.nodeCores,
    machineCores: result.machineCores,
    redis: statsDelta(...result.probes),
    clientIsEstimate: false,
  };
}

const pick = <T>(list: readonly T[]): T => list[(Math.random() * list.length) | 0]!;

async function expectAllowed(decision: Promise<{ outcome: string }>): Promise<void> {
  const d = await decision;
  if (d.outcome !== 'allowed') throw new Error(`the benchmark workload must never be denied; the engine answered ${JSON.stringify(d)}`);
}

async function forEachConcurrently<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

runBenchmark(main, () => cleanup?.() ?? Promise.resolve());
