/**
 * `npm run bench:gateway`: the gateway (API key + quota decision) in front of the demo
 * upstream, against a plain Hono proxy of the same route to the same upstream, in the same
 * run: throughput at a fixed concurrency (autocannon) and latency at a fixed moderate rate
 * (an open loop). Writes the "Gateway (npm run bench:gateway)" section of bench/RESULTS.md.
 * A workload with a fixed-charge twin (priced-stream) adds a third variant, `fixed`: the same
 * request through another gateway process whose route charges 1 unit of a counter instead, the
 * baseline of issue 12's target for the priced route's gateway CPU per request.
 *
 * The upstream, each gateway variant and the baseline run in child processes of their own
 * (each gateway with its own Redis key prefix); the load comes from this one. Redis is
 * private (bench/shared/private-redis.ts); Postgres is a database of its own.
 *
 * Environment: BENCH_REDIS_URL (default: a private redis-server), BENCH_DATABASE_URL
 * (postgres://postgres@127.0.0.1:5432/quotagate_bench, created and migrated if need be),
 * BENCH_CONNECTIONS (32), BENCH_RATE (500 req/s), BENCH_DURATION_MS (4000: a throughput
 * run; a latency round, which the variants share, lasts twice that), BENCH_WARMUP_MS
 * (1000, before each latency round; a throughput run warms up with 50 requests per
 * connection, after 200 per connection of priming before the first round), BENCH_ROUNDS (5),
 * BENCH_SUBJECTS (10), BENCH_WORKLOAD (export; priced-stream: a metered streamed chat, see
 * workload.ts). QG_* variables reach the gateway as they would in production (e.g.
 * QG_AUTH_CACHE_TTL_MS).
 *
 * BENCH_COMPARE_WITH=<another checkout of quotagate, its dependencies installed> compares two
 * builds instead: this checkout's gateway and that one's serve the workload's route side by
 * side (the `fixed` slot runs the other build's gateway), in side-by-side rounds only, and the
 * run prints the ratio of their CPU per request; nothing is saved. A change of 1-2 % shows
 * through a drifting machine this way, where two runs apart differ by more than that.
 */
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import { loadEnv } from '../../src/config/env.js';
import { ensureDatabase } from '../../src/db/ensure-database.js';
import { migrate } from '../../src/db/migrate.js';
import { createPool } from '../../src/db/pool.js';
import { KeySchema } from '../../src/redis/keys.js';
import { splitCores, pinThisProcess } from './cpu-affinity.js';
import { envInt } from '../shared/env.js';
import { countersDelta, scrapeGateway, type GatewayCounters } from './metrics.js';
import { comparisonSummary, gatewayReport, VARIANTS, type GatewayVariant, type LatencyRound, type SideBySideRound, type ThroughputRun, type Variant } from './report.js';
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

const COMPARE_WITH = process.env.BENCH_COMPARE_WITH || undefined;

/** This run's variants: the fixed-charge one only where the workload declares a twin; the two builds when comparing. */
const VARIANTS_RUN = COMPARE_WITH ? (['fixed', 'gateway'] as const) : VARIANTS.filter((v) => v !== 'fixed' || WORKLOAD.fixedTwin);
/** How the logs name the side-by-side pair. */
const PAIR_NAMES = COMPARE_WITH ? { fixed: 'other build', gateway: 'this build' } : { fixed: 'fixed', gateway: 'gateway' };
const isGateway = (v: Variant): v is GatewayVariant => v !== 'baseline';
const GATEWAY_VARIANTS = VARIANTS_RUN.filter(isGateway);

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
  const run = randomBytes(4).toString('hex');
  // Each gateway variant its own keys, so that neither finds the other's state (key mirror, rate, counters) in Redis.
  const prefixOf = (v: GatewayVariant) => (v === 'gateway' ? `qgbench-gw-${run}` : `qgbench-gw-${run}-${v}`);
  const prefixes = GATEWAY_VARIANTS.map(prefixOf);
  // A private server is thrown away whole; on a shared one, only this run's keys go.
  if (!redis.owned) for (const prefix of prefixes) teardown.push(() => deletePrefix(admin, prefix));
  console.log(`Redis: ${redis.describe}; key prefix${prefixes.length > 1 ? 'es' : ''} ${prefixes.join(', ')}`);

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
    QG_KEY_PREFIX: prefixOf('gateway'),
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'warn',
    BENCH_UPSTREAM_URL: upstream.url,
  };
  // The gateways' settings exactly as they parse them (so this process knows their partitions); only the key prefix differs between them.
  const gatewayEnv = loadEnv({ ...process.env, ...gatewayVars });
  const envOf = (v: Variant) => (isGateway(v) ? { ...gatewayVars, QG_KEY_PREFIX: prefixOf(v) } : { BENCH_UPSTREAM_URL: upstream.url });
  const targets = {} as Record<Variant, Service>;
  for (const variant of VARIANTS_RUN) {
    // Comparing, the `fixed` slot is the other checkout's gateway on the same route.
    const other = COMPARE_WITH !== undefined && variant === 'fixed';
    const entry = other ? pathToFileURL(resolve(COMPARE_WITH, 'bench/gateway/server.ts')) : new URL('./server.ts', import.meta.url);
    targets[variant] = await startService(variant, entry, { args: [other ? 'gateway' : variant], env: envOf(variant), cpus: cores?.proxy });
    teardown.push(() => targets[variant].stop());
  }
  console.log(`upstream ${upstream.url}, ${VARIANTS_RUN.map((v) => `${v} ${targets[v].url}`).join(', ')}`);

  const outboxes = prefixes.flatMap((prefix) => {
    const schema = new KeySchema(prefix, gatewayEnv.QG_PARTITIONS);
    return [...new Set(Array.from({ length: gatewayEnv.QG_PARTITIONS }, (_, p) => schema.outbox(p)))];
  });

  /** The counters of the `gateways` over `work`, checked: each decided "allowed" once per response it served, and nothing else. */
  async function counted<T>(
    label: string,
    gateways: readonly GatewayVariant[],
    work: () => Promise<T>,
    served: (result: T, variant: GatewayVariant) => number,
  ): Promise<{ result: T; counters: Partial<Record<Variant, GatewayCounters>> }> {
    const scrape = () => Promise.all(gateways.map((v) => scrapeGateway(targets[v].url)));
    const before = await scrape();
    const result = await work();
    const after = await scrape();
    const counters: Partial<Record<Variant, GatewayCounters>> = {};
    gateways.forEach((v, i) => {
      const delta = countersDelta(before[i]!, after[i]!);
      expectAllAllowed(`${label} (${v}'s counters)`, delta, served(result, v));
      counters[v] = delta;
    });
    // The flusher would drain the outboxes; without one they only grow.
    await admin.del(...outboxes);
    return { result, counters };
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
    const { result, counters } = await counted(label, isGateway(variant) ? [variant] : [], measured, (r) => r.result.responses);
    const after = await cpu();
    const { result: run, window } = result;
    expectAll2xx(label, run);
    console.log(`${label.padEnd(30)} ${f0(run.rate).padStart(6)} req/s  p50 ${ms(run, 50)}  p99 ${ms(run, 99)}  (${run.responses} responses, all 2xx)`);
    return {
      round,
      variant,
      run,
      gateway: counters[variant],
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
      const loop = await openLoop(
        VARIANTS_RUN.map((v) => targets[v].url),
        { rate: CONFIG.rate, durationMs, connections: CONFIG.connections, block: LATENCY_BLOCK },
        headersFor,
      );
      const runs: Partial<Record<Variant, LoadRun>> = {};
      VARIANTS_RUN.forEach((v, i) => {
        runs[v] = loop.targets[i]!;
        expectAll2xx(`${label}, ${v}`, runs[v]);
      });
      return { runs, sendLagP99Ms: loop.sendLagP99Ms };
    };
    await paced(CONFIG.warmupMs);
    const cpu = () => Object.fromEntries(VARIANTS_RUN.map((v) => [v, processCpuSeconds(targets[v].pid)]));
    let cpuBefore: Record<string, number> = {};
    let cpuAfter: Record<string, number> = {};
    const { result, counters } = await counted(
      label,
      GATEWAY_VARIANTS,
      async () => {
        cpuBefore = cpu();
        const measured = await paced(2 * CONFIG.durationMs);
        cpuAfter = cpu();
        return measured;
      },
      (r, v) => r.runs[v]!.responses,
    );
    // The variants served interleaved requests in the same seconds: their CPU per request compares without the machine's drift.
    const cpuSeconds: Partial<Record<Variant, number>> = Object.fromEntries(VARIANTS_RUN.map((v) => [v, cpuAfter[v]! - cpuBefore[v]!]));
    const line = (v: Variant) => `${v} p50 ${ms(result.runs[v]!, 50)} p99 ${ms(result.runs[v]!, 99)}`;
    console.log(`${label.padEnd(30)} ${VARIANTS_RUN.map(line).join('  ')}  (all 2xx)`);
    return { round, ...result, cpuSeconds, gateway: counters.gateway!, ...(counters.fixed && { fixed: counters.fixed }) };
  }

  /**
   * Both gateways under closed-loop load at once, half the connections each, on the core they
   * share: each one's CPU per request over the same seconds, so the machine's drift (this
   * machine's speed moves by a third within minutes) weighs on both alike.
   */
  async function measureSideBySide(round: number): Promise<SideBySideRound> {
    const label = `side by side round ${round}`;
    const pair = ['fixed', 'gateway'] as const;
    const connections = Math.max(1, Math.floor(CONFIG.connections / 2));
    const both = (amounts: Record<(typeof pair)[number], number>) => Promise.all(pair.map((v) => closedLoop(targets[v].url, { connections, amount: amounts[v] }, headersFor)));
    const warmup = await both({ fixed: connections * WARMUP_PER_CONNECTION, gateway: connections * WARMUP_PER_CONNECTION });
    warmup.forEach((run, i) => expectAll2xx(`${label} (warm-up, ${pair[i]})`, run));
    // About BENCH_DURATION_MS each at the rate each had while sharing the core.
    const amountOf = (i: number) => Math.max(connections * WARMUP_PER_CONNECTION, Math.round((warmup[i]!.rate * CONFIG.durationMs) / 1000));
    let cpuSeconds = { fixed: 0, gateway: 0 };
    const { result } = await counted(
      label,
      pair,
      async () => {
        const before = pair.map((v) => processCpuSeconds(targets[v].pid));
        const runs = await both({ fixed: amountOf(0), gateway: amountOf(1) });
        const after = pair.map((v) => processCpuSeconds(targets[v].pid));
        cpuSeconds = { fixed: after[0]! - before[0]!, gateway: after[1]! - before[1]! };
        return { fixed: runs[0]!, gateway: runs[1]! };
      },
      (runs, v) => runs[v as (typeof pair)[number]].responses,
    );
    pair.forEach((v) => expectAll2xx(`${label}, ${v}`, result[v]));
    const perRequest = (v: (typeof pair)[number]) => f0((cpuSeconds[v] * 1e6) / result[v].responses);
    console.log(`${label.padEnd(30)} CPU per request ${PAIR_NAMES.fixed} ${perRequest('fixed')} µs, ${PAIR_NAMES.gateway} ${perRequest('gateway')} µs  (all 2xx)`);
    return { round, runs: result, cpuSeconds };
  }

  // Without this, the first round would run on code still being optimised and caches still filling.
  for (const variant of VARIANTS_RUN) {
    const priming = await closedLoop(targets[variant].url, { connections: CONFIG.connections, amount: CONFIG.connections * PRIMING_PER_CONNECTION }, headersFor);
    expectAll2xx(`${variant} (priming)`, priming);
    console.log(`primed ${variant} with ${priming.responses} requests`);
  }

  if (COMPARE_WITH) {
    const rounds: SideBySideRound[] = [];
    for (let round = 1; round <= CONFIG.rounds; round++) rounds.push(await measureSideBySide(round));
    console.log(`\n${comparisonSummary(rounds, COMPARE_WITH)}`);
    return;
  }

  const throughput: ThroughputRun[] = [];
  for (let round = 1; round <= CONFIG.rounds; round++) {
    // Alternating which variant goes first keeps a drift of the machine from favouring one.
    for (const variant of round % 2 ? VARIANTS_RUN : [...VARIANTS_RUN].reverse()) throughput.push(await measureThroughput(round, variant));
  }
  const latency: LatencyRound[] = [];
  for (let round = 1; round <= CONFIG.rounds; round++) latency.push(await measureLatency(round));
  const sideBySide: SideBySideRound[] = [];
  if (WORKLOAD.fixedTwin) for (let round = 1; round <= CONFIG.rounds; round++) sideBySide.push(await measureSideBySide(round));

  const { rows } = await pool.query<{ server_version: string }>('SHOW server_version');
  const figures = {
    run: runInfo(),
    throughput,
    latency,
    ...(sideBySide.length > 0 && { sideBySide }),
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
