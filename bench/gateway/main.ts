/**
 * `npm run bench:gateway`: the gateway (API key + quota decision) in front of the demo
 * upstream, against a plain Hono proxy of the same route to the same upstream, in the same
 * run: throughput at a fixed concurrency (autocannon) and latency at a fixed moderate rate
 * (an open loop). Writes the "Gateway (npm run bench:gateway)" section of bench/RESULTS.md.
 *
 * The upstream, the gateway and the baseline each run in a child process; the load comes
 * from this one. Redis is private (bench/private-redis.ts); Postgres is a database of its own.
 *
 * Environment: BENCH_REDIS_URL (default: a private redis-server), BENCH_DATABASE_URL
 * (postgres://postgres@127.0.0.1:5432/quotagate_bench, created and migrated if need be),
 * BENCH_CONNECTIONS (32), BENCH_RATE (500 req/s), BENCH_DURATION_MS (4000: a throughput
 * run; a latency round, which the two variants share, lasts twice that), BENCH_WARMUP_MS
 * (1000, before each latency round; a throughput run warms up with 50 requests per
 * connection, after 200 per connection of priming before the first round), BENCH_ROUNDS (5),
 * BENCH_SUBJECTS (10), BENCH_WORKLOAD (export; priced-stream: a metered streamed chat, see
 * workload.ts). QG_* variables reach the gateway as they would in production (e.g.
 * QG_AUTH_CACHE_TTL_MS).
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { loadEnv } from '../../src/config/env.js';
import { ensureDatabase } from '../../src/db/ensure-database.js';
import { migrate } from '../../src/db/migrate.js';
import { createPool } from '../../src/db/pool.js';
import { KeySchema } from '../../src/redis/keys.js';
import { splitCores, pinThisProcess } from './cpu-affinity.js';
import { envInt } from '../shared/env.js';
import { countersDelta, scrapeGateway, type GatewayCounters } from './metrics.js';
import { gatewayReport, VARIANTS, type LatencyRound, type ThroughputRun, type Variant } from './report.js';
import { createBenchKeys, describeWorkload, requestHeaders, WORKLOAD } from './workload.js';
import { closedLoop, openLoop, type LoadRun } from './http-load.js';
import { measureWindow } from '../shared/load.js';
import { benchRedis } from '../shared/private-redis.js';
import { processCpuSeconds } from '../shared/process-cpu.js';
import { deletePrefix } from '../shared/redis-keys.js';
import { redisStats, redisVersion } from '../shared/redis-stats.js';
import { runInfo, saveFigures } from '../shared/results.js';
import { renderResults } from '../render.js';
import { startService, type Service } from '../shared/services.js';
import { percentile } from '../shared/stats.js';
import { runBenchmark, teardownSteps } from '../shared/run-benchmark.js';

const CONFIG = {
  connections: envInt('BENCH_CONNECTIONS', 32),
  rate: envInt('BENCH_RATE', 500),
  warmupMs: envInt('BENCH_WARMUP_MS', 1_000),
  durationMs: envInt('BENCH_DURATION_MS', 4_000),
  rounds: envInt('BENCH_ROUNDS', 5),
  subjects: envInt('BENCH_SUBJECTS', 10),
};
const DATABASE_URL = process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/quotagate_bench';
/** A throughput run's warm-up: this many requests per connection. */
const WARMUP_PER_CONNECTION = 50;
/** Before the first round, each variant serves this many requests per connection, unmeasured. */
const PRIMING_PER_CONNECTION = 200;
/** The paced runs send this many requests in a row to one variant, then as many to the other. */
const LATENCY_BLOCK = 10;

const f0 = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (run: LoadRun, q: number) => `${percentile(run.latenciesMs, q).toFixed(2)} ms`;

/** Undo steps of everything the run makes (see teardownSteps). */
const teardown = teardownSteps();

async function main(): Promise<void> {
  // Before anything starts, so that Redis and the upstream inherit this process's cores.
  const cores = splitCores();
  if (cores) pinThisProcess(cores.rest);
  const redis = await benchRedis();
  teardown.push(() => redis.stop());
  const admin = new Redis(redis.url, { maxRetriesPerRequest: 2 });
  teardown.push(() => admin.disconnect());
  const prefix = `qgbench-gw-${randomBytes(4).toString('hex')}`;
  // A private server is thrown away whole; on a shared one, only this run's keys go.
  if (!redis.owned) teardown.push(() => deletePrefix(admin, prefix));
  console.log(`Redis: ${redis.describe}; key prefix ${prefix}`);

  if (await ensureDatabase(DATABASE_URL)) console.log(`created the database of ${DATABASE_URL}`);
  await migrate(DATABASE_URL);
  const pool = createPool(DATABASE_URL, { max: 2, applicationName: 'quotagate-bench' });
  teardown.push(() => pool.end());
  const keys = await createBenchKeys(pool, CONFIG.subjects);
  teardown.push(() => keys.remove());
  const headersFor = (n: number) => requestHeaders(keys.secrets, n);

  const upstream = await startService('upstream', new URL('./upstream-server.ts', import.meta.url));
  teardown.push(() => upstream.stop());
  const gatewayVars = {
    REDIS_URL: redis.url,
    DATABASE_URL,
    QG_KEY_PREFIX: prefix,
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'warn',
    BENCH_UPSTREAM_URL: upstream.url,
  };
  // The gateway's settings exactly as it parses them (so this process knows its partitions).
  const gatewayEnv = loadEnv({ ...process.env, ...gatewayVars });
  const targets = {} as Record<Variant, Service>;
  for (const variant of VARIANTS) {
    targets[variant] = await startService(variant, new URL('./server.ts', import.meta.url), {
      args: [variant],
      env: variant === 'gateway' ? gatewayVars : { BENCH_UPSTREAM_URL: upstream.url },
      cpus: cores?.proxy,
    });
    teardown.push(() => targets[variant].stop());
  }
  console.log(`upstream ${upstream.url}, baseline ${targets.baseline.url}, gateway ${targets.gateway.url}`);

  const schema = new KeySchema(prefix, gatewayEnv.QG_PARTITIONS);
  const outboxes = [...new Set(Array.from({ length: gatewayEnv.QG_PARTITIONS }, (_, p) => schema.outbox(p)))];

  const scrape = () => scrapeGateway(targets.gateway.url);
  /** The gateway's counters over `work`, checked: one "allowed" decision per response it served. */
  async function counted<T>(label: string, work: () => Promise<T>, served: (result: T) => number): Promise<{ result: T; gateway: GatewayCounters }> {
    const before = await scrape();
    const result = await work();
    const gateway = countersDelta(before, await scrape());
    expectAllAllowed(label, gateway, served(result));
    // The flusher would drain the outboxes; without one they only grow.
    await admin.del(...outboxes);
    return { result, gateway };
  }

  /** One closed-loop run of one variant: a warm-up, then the measured run with every process's CPU around it. */
  async function measureThroughput(round: number, variant: Variant): Promise<ThroughputRun> {
    const target = targets[variant];
    const label = `throughput round ${round}, ${variant}`;
    const load = (amount: number) => closedLoop(target.url, { connections: CONFIG.connections, amount }, headersFor);
    const warmup = await load(CONFIG.connections * WARMUP_PER_CONNECTION);
    expectAll2xx(`${label} (warm-up)`, warmup);
    // A run ends after a number of responses (see closedLoop): enough for about BENCH_DURATION_MS at the warm-up's rate.
    const amount = Math.max(CONFIG.connections * WARMUP_PER_CONNECTION, Math.round((warmup.rate * CONFIG.durationMs) / 1000));

    const cpu = async () => ({ proxy: processCpuSeconds(target.pid), upstream: processCpuSeconds(upstream.pid), redis: (await redisStats(admin)).cpuSeconds });
    const before = await cpu();
    const measured = () => measureWindow(() => load(amount));
    const { result, gateway } = variant === 'gateway' ? await counted(label, measured, (r) => r.result.responses) : { result: await measured(), gateway: undefined };
    const after = await cpu();
    const { result: run, window } = result;
    expectAll2xx(label, run);
    console.log(`${label.padEnd(30)} ${f0(run.rate).padStart(6)} req/s  p50 ${ms(run, 50)}  p99 ${ms(run, 99)}  (${run.responses} responses, all 2xx)`);
    return {
      round,
      variant,
      run,
      gateway,
      cpu: {
        proxy: after.proxy - before.proxy,
        upstream: after.upstream - before.upstream,
        redis: after.redis - before.redis,
        loadGenerator: window.nodeCores * window.seconds,
        machine: window.machineCores * window.seconds,
      },
    };
  }

  /** One paced run shared between the variants (see openLoop), after a warm-up of the same. */
  async function measureLatency(round: number): Promise<LatencyRound> {
    const label = `latency round ${round}`;
    const paced = async (durationMs: number) => {
      const {
        targets: [baseline, gateway],
        sendLagP99Ms,
      } = await openLoop(
        VARIANTS.map((v) => targets[v].url),
        { rate: CONFIG.rate, durationMs, connections: CONFIG.connections, block: LATENCY_BLOCK },
        headersFor,
      );
      expectAll2xx(`${label}, baseline`, baseline!);
      expectAll2xx(`${label}, gateway`, gateway!);
      return { runs: { baseline: baseline!, gateway: gateway! }, sendLagP99Ms };
    };
    await paced(CONFIG.warmupMs);
    const { result, gateway } = await counted(
      label,
      () => paced(2 * CONFIG.durationMs),
      (r) => r.runs.gateway.responses,
    );
    const line = (v: Variant) => `${v} p50 ${ms(result.runs[v], 50)} p99 ${ms(result.runs[v], 99)}`;
    console.log(`${label.padEnd(30)} ${line('baseline')}  ${line('gateway')}  (all 2xx)`);
    return { round, ...result, gateway };
  }

  // Without this, the first round would run on code still being optimised and caches still filling.
  for (const variant of VARIANTS) {
    const priming = await closedLoop(targets[variant].url, { connections: CONFIG.connections, amount: CONFIG.connections * PRIMING_PER_CONNECTION }, headersFor);
    expectAll2xx(`${variant} (priming)`, priming);
    console.log(`primed ${variant} with ${priming.responses} requests`);
  }

  const throughput: ThroughputRun[] = [];
  for (let round = 1; round <= CONFIG.rounds; round++) {
    // Alternating which variant goes first keeps a drift of the machine from favouring one.
    for (const variant of round % 2 ? VARIANTS : [...VARIANTS].reverse()) throughput.push(await measureThroughput(round, variant));
  }
  const latency: LatencyRound[] = [];
  for (let round = 1; round <= CONFIG.rounds; round++) latency.push(await measureLatency(round));

  const { rows } = await pool.query<{ server_version: string }>('SHOW server_version');
  const figures = {
    run: runInfo(),
    throughput,
    latency,
    config: { ...CONFIG, block: LATENCY_BLOCK, warmupRequestsPerConnection: WARMUP_PER_CONNECTION, primingRequestsPerConnection: PRIMING_PER_CONNECTION },
    redisVersion: await redisVersion(admin),
    redis: redis.describe,
    postgresVersion: rows[0]?.server_version ?? 'unknown',
    authCacheTtlMs: gatewayEnv.QG_AUTH_CACHE_TTL_MS,
    cores,
    workload: describeWorkload(WORKLOAD),
  };
  console.log(gatewayReport(figures).summary);
  console.log(`\nsaved ${saveFigures(WORKLOAD.figures, figures)}; rendered ${renderResults()}`);
}

/** A benchmark whose requests fail measures nothing useful: stop at the first run with any. */
function expectAll2xx(label: string, run: LoadRun): void {
  const bad = [...run.statuses].filter(([status]) => status < 200 || status >= 300);
  if (bad.length === 0 && run.errors === 0 && run.responses > 0) return;
  const statuses = [...run.statuses].map(([status, n]) => `${status} × ${n}`).join(', ');
  throw new Error(`${label}: ${run.responses} responses (${statuses || 'none'}) and ${run.errors} connection errors; every request must be answered 2xx`);
}

/** Exactly one "allowed" decision per response: no request was denied, failed open or decided twice. */
function expectAllAllowed(label: string, gateway: GatewayCounters, responses: number): void {
  if (gateway.other === 0 && gateway.allowed === responses) return;
  throw new Error(
    `${label}: the gateway decided ${gateway.allowed} allowed and ${gateway.other} otherwise for ${responses} responses; ` + `the benchmark's load must all be allowed`,
  );
}

runBenchmark(main, teardown.run, 10_000);
