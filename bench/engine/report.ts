import { BASE_PLAN, LIMIT, METRIC, POLICY_FILE, RATE_CLASS, SUBJECTS } from '../shared/consume-workload.js';
import type { LoadOptions } from '../shared/load.js';
import type { RedisStats } from '../shared/redis-stats.js';
import type { RunInfo } from '../shared/results.js';

/** One measured variant. */
export interface Phase {
  name: string;
  kind: 'ceiling' | 'engine' | 'rlf';
  /** Decisions (script calls) per second. */
  rate: number;
  ops: number;
  seconds: number;
  /** CPU of the client side in cores: this Node process, or (redis-benchmark) the machine minus Redis. */
  clientCores: number;
  clientIsEstimate: boolean;
  machineCores: number;
  /** What Redis spent during the measured window. */
  redis: RedisStats;
}

export interface ReportInput {
  run: RunInfo;
  phases: Phase[];
  load: LoadOptions;
  redisVersion: string;
  redis: string;
  sha: string;
  benchmarkLine: string;
  hydrationsDuringMeasurement: number;
  partitions: number;
}

interface Row {
  phase: Phase;
  redisCores: number;
  redisUs: number;
  scriptUs: number;
  commandsPerCall: number;
  clientUs: number;
}

/** Commands that are not part of a decision: the script call itself and the probes. */
const NOT_IN_SCRIPT = new Set(['evalsha', 'eval', 'info']);

function row(phase: Phase): Row {
  const evalsha = phase.redis.commands.get('evalsha') ?? { calls: 0, usec: 0, failed: 0 };
  let nested = 0;
  for (const [name, c] of phase.redis.commands) if (!NOT_IN_SCRIPT.has(name)) nested += c.calls;
  return {
    phase,
    redisCores: phase.redis.cpuSeconds / phase.seconds,
    redisUs: (phase.redis.cpuSeconds * 1e6) / phase.ops,
    scriptUs: evalsha.calls > 0 ? evalsha.usec / evalsha.calls : NaN,
    commandsPerCall: evalsha.calls > 0 ? nested / evalsha.calls : NaN,
    clientUs: (phase.clientCores * phase.seconds * 1e6) / phase.ops,
  };
}

const best = (rows: Row[]) => rows.reduce((a, b) => (b.phase.rate > a.phase.rate ? b : a));
const f0 = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : 'n/a');
const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : 'n/a');

export interface Report {
  markdown: string;
  table: string;
  ratios: string[];
}

export function engineReport(input: ReportInput): Report {
  const rows = input.phases.map(row);
  const ceiling = best(rows.filter((r) => r.phase.kind === 'ceiling'));
  const engine = best(rows.filter((r) => r.phase.kind === 'engine'));
  const rlf = best(rows.filter((r) => r.phase.kind === 'rlf'));
  const byName = (kind: Phase['kind'], on: boolean) => rows.find((r) => r.phase.kind === kind && r.phase.name.endsWith(`auto-pipelining ${on ? 'on' : 'off'}`))!;
  const p1 = rows.find((r) => r.phase.kind === 'ceiling' && r.phase.name.endsWith('-P 1'));
  const vsCeiling = engine.phase.rate / ceiling.phase.rate;
  const vsRlf = engine.phase.rate / rlf.phase.rate;
  const cores = input.run.cores;
  const engineAp = byName('engine', true);

  const header =
    '| Variant | Decisions/s | Redis CPU (cores) | Redis CPU µs/decision | Script µs/call | Redis cmds/decision | Client CPU (cores) | Client CPU µs/decision | Machine CPU (of ' +
    `${cores} cores) |\n|---|--:|--:|--:|--:|--:|--:|--:|--:|`;
  const lines = rows.map(
    (r) =>
      `| ${r.phase.name} | ${f0(r.phase.rate)} | ${f2(r.redisCores)} | ${f1(r.redisUs)} | ${f1(r.scriptUs)} | ${f1(r.commandsPerCall)} | ` +
      `${r.phase.clientIsEstimate ? '≈' : ''}${f2(r.phase.clientCores)} | ${r.phase.clientIsEstimate ? '≈' : ''}${f1(r.clientUs)} | ${f2(r.phase.machineCores)} |`,
  );
  const table = [header, ...lines].join('\n');
  const met = (ok: boolean) => (ok ? '**met**' : '**missed**');
  const ratios = [
    `engine / redis-benchmark ceiling: **${f2(vsCeiling)}** (${engine.phase.name.replace('engine.consume, ', 'engine ')} vs ${ceiling.phase.name}) — target ≥ 0.50: ${met(vsCeiling >= 0.5)}` +
      (p1 && p1 !== ceiling ? `; vs ${p1.phase.name}: ${f2(engine.phase.rate / p1.phase.rate)}` : ''),
    `engine / rate-limiter-flexible: **${f2(vsRlf)}** (best of each) — target ≥ 1.00: ${met(vsRlf >= 1)}`,
    `auto-pipelining on / off: engine ${f2(engineAp.phase.rate / byName('engine', false).phase.rate)}, ` +
      `rate-limiter-flexible ${f2(byName('rlf', true).phase.rate / byName('rlf', false).phase.rate)}. ` +
      `ioredis keeps one auto-pipeline in flight per connection and sends the next only once every reply of the last is in, ` +
      `so Redis running a batch and the client handling its replies and building the next mostly alternate instead of overlapping: engine with auto-pipelining ` +
      `${f0(engineAp.phase.rate)}/s vs ${f0(1e6 / (engineAp.clientUs + engineAp.redisUs))}/s if they never overlapped (1e6 / (client + Redis CPU µs per decision))`,
    `work per decision, engine / rate-limiter-flexible: Redis CPU ${f1(engine.redisUs / rlf.redisUs)}×, time inside the script ${f1(engine.scriptUs / rlf.scriptUs)}×, ` +
      `Redis commands ${f1(engine.commandsPerCall)} vs ${f1(rlf.commandsPerCall)}`,
  ];

  const markdown = `
- **Run**: ${input.run.at} — \`npm run bench:engine\`
- **Machine**: ${input.run.cores} CPU cores (${input.run.cpuModel}), Node ${input.run.node}, Redis ${input.redisVersion} (${input.redis}).
  Redis, this Node process and redis-benchmark all share these ${cores} cores; no variant has a core to itself.
- **Workload**: \`consume\` of 1 × \`${METRIC}\` (counter, limit ${LIMIT.toLocaleString('en-US')} so nothing is denied; its grants hash is read as for any limited metric)
  plus the \`${BASE_PLAN}\` plan's request rate (GCRA) in rate class \`${RATE_CLASS}\`; plan \`${BASE_PLAN}\` of \`${POLICY_FILE}\` with that one limit raised;
  a random subject of ${SUBJECTS.toLocaleString('en-US')}; ${input.partitions} partitions. Every subject is hydrated in a warm-up pass first
  (hydrations during measured phases: ${input.hydrationsDuringMeasurement}); every decision is checked to be "allowed".
- **Node variants**: one ioredis connection, ${input.load.concurrency} calls in flight, ${input.load.warmupMs / 1000} s warm-up then ${input.load.durationMs / 1000} s measured.
  rate-limiter-flexible: \`RateLimiterRedis\` (its ioredis Lua script), points 1e9, duration 60 s, \`consume(subject)\`.
- **redis-benchmark**: ${input.phases.filter((p) => p.kind === 'ceiling').length} runs of EVALSHA ${input.sha} (the text of \`loadLua('consume')\`) with the
  KEYS/ARGV the engine sent for one subject, \`__rand_int__\` in place of the subject (redis-benchmark draws each occurrence on its own; all 10,000
  subjects' keys exist, in partition 0 since it cannot compute a partition) and of the request id; sized to ≈ ${input.load.durationMs / 1000} s by a
  20,000-call calibration run. Verified: a one-off EVALSHA answers code 1 (allowed), and each run wrote one outbox event per call and no denial.

${table}

Script µs/call: Redis's own time inside EVALSHA (INFO commandstats). Redis CPU µs/decision also counts protocol parsing, networking and
replies. Client CPU for redis-benchmark is the machine's CPU minus Redis's (≈).

${ratios.map((r) => `- ${r}`).join('\n')}

<details><summary>redis-benchmark command (-P 1; the -P 16 run differs only in -n, -P and ARGV[1])</summary>

\`\`\`
${input.benchmarkLine}
\`\`\`
</details>
`;
  return { markdown, table, ratios };
}

export function printReport(report: Report): void {
  console.log(`\n${report.table}\n`);
  for (const r of report.ratios) console.log(`- ${r.replace(/\*\*/g, '')}`);
}
