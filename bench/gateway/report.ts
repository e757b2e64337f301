import type { CoreSplit } from './cpu-affinity.js';
import type { GatewayCounters } from './metrics.js';
import { EXPORT_WORKLOAD, RATE, type WorkloadDescription } from './workload.js';
import type { LoadRun } from './http-load.js';
import { median, percentile } from '../shared/stats.js';
import type { RunInfo } from '../shared/results.js';

/** Every variant a run may measure, in the report's order; `fixed` only for a workload with a fixed-charge twin (see workload.ts). */
export const VARIANTS = ['baseline', 'fixed', 'gateway'] as const;
export type Variant = (typeof VARIANTS)[number];
export type GatewayVariant = Exclude<Variant, 'baseline'>;

export const VARIANT_NAMES: Record<Variant, string> = {
  baseline: 'baseline: plain Hono proxy',
  fixed: 'gateway: same route, fixed charge',
  gateway: 'gateway: API key + quota',
};

/** CPU seconds spent during a measured run (NaN where unknown). */
export interface CpuSpent {
  proxy: number;
  upstream: number;
  redis: number;
  /** This process: autocannon. */
  loadGenerator: number;
  /** The whole machine: every process, Postgres and the OS too. */
  machine: number;
}

/** One closed-loop run of one variant. */
export interface ThroughputRun {
  round: number;
  variant: Variant;
  run: LoadRun;
  cpu: CpuSpent;
  /** The gateway's own counters over the run (gateway variants only: that variant's process). */
  gateway?: GatewayCounters;
}

/** One paced run, its requests shared between the variants in turn. */
export interface LatencyRound {
  round: number;
  /** No `fixed` where the run had no such variant (and in figures saved before there was one). */
  runs: Partial<Record<Variant, LoadRun>>;
  /** The gateway variant's own counters over the round. */
  gateway: GatewayCounters;
  /** The fixed-charge variant's, where it ran. */
  fixed?: GatewayCounters;
  /** Each variant's proxy-process CPU over the round (absent in figures saved before it was measured). */
  cpuSeconds?: Partial<Record<Variant, number>>;
  sendLagP99Ms: number;
}

/** Both gateways under closed-loop load at the same time (the fixed-charge twin's workloads only). */
export interface SideBySideRound {
  round: number;
  runs: { fixed: LoadRun; gateway: LoadRun };
  /** Each one's proxy-process CPU over the round. */
  cpuSeconds: { fixed: number; gateway: number };
}

export interface ReportInput {
  run: RunInfo;
  throughput: ThroughputRun[];
  latency: LatencyRound[];
  /** Absent where there is no fixed-charge twin, and in figures saved before it was measured. */
  sideBySide?: SideBySideRound[];
  config: {
    connections: number;
    rate: number;
    block: number;
    warmupMs: number;
    warmupRequestsPerConnection: number;
    primingRequestsPerConnection: number;
    durationMs: number;
    rounds: number;
    subjects: number;
  };
  redisVersion: string;
  redis: string;
  postgresVersion: string;
  authCacheTtlMs: number;
  cores: CoreSplit | null;
  /** What was sent (absent in figures saved before there were several workloads: the export one). */
  workload?: WorkloadDescription;
}

export interface Report {
  markdown: string;
  summary: string;
}

const TARGET_RATIO = 0.8;
const TARGET_ADDED_P99_MS = 2;
/** Issue 12: gateway CPU per request on the priced streamed route within 15 % of the same request on a fixed-charge route. */
const TARGET_CPU_VS_FIXED = 1.15;
/** The paced rate should leave both variants plenty of headroom, or it measures queueing. */
const MODERATE_SHARE = 0.5;
/** Busy share of a core (or of the machine) from which it counts as the limit; a saturated Node process still shows some idle time. */
const SATURATED = 0.85;
/** Cores that processes outside the benchmark may use before its figures are called disturbed. */
const QUIET_OTHERS = 0.25;

const f0 = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : 'n/a');
const signed = (n: number) => (Number.isFinite(n) ? `${n < 0 ? '−' : '+'}${Math.abs(n).toFixed(2)}` : 'n/a');
const met = (ok: boolean) => (ok ? '**met**' : '**missed**');
const us = (cpuSeconds: number, responses: number) => (cpuSeconds * 1e6) / responses;
const p = (run: LoadRun, q: number) => f2(percentile(run.latenciesMs, q));
const latencyCells = (run: LoadRun | undefined) => (run ? `${p(run, 50)} / ${p(run, 99)} / ${p(run, 99.9)}` : 'n/a');
const meanDecisionMs = (g: GatewayCounters) => (g.decisionSeconds * 1000) / g.decisions;
/** Cores busy in the run beyond the processes accounted for: Postgres, the OS, and anything else running. */
const otherCores = (t: ThroughputRun) => (t.cpu.machine - t.cpu.proxy - t.cpu.upstream - t.cpu.redis - t.cpu.loadGenerator) / t.run.seconds;

/** A variant's throughput runs: the medians over the rounds. */
function throughputFigures(runs: ThroughputRun[], variant: Variant) {
  const mine = runs.filter((t) => t.variant === variant);
  const of = (f: (t: ThroughputRun) => number) => median(mine.map(f));
  const per = (f: (c: CpuSpent) => number) => of((t) => us(f(t.cpu), t.run.responses));
  return {
    rate: of((t) => t.run.rate),
    cpu: {
      proxy: per((c) => c.proxy),
      upstream: per((c) => c.upstream),
      redis: per((c) => c.redis),
      loadGenerator: per((c) => c.loadGenerator),
      machine: per((c) => c.machine),
      proxyCores: of((t) => t.cpu.proxy / t.run.seconds),
      machineCores: of((t) => t.cpu.machine / t.run.seconds),
      otherCores: of(otherCores),
    },
  };
}

/**
 * A variant's latency, every round's samples pooled. The tail is made of rare pauses that
 * one short round catches or misses, so per-round p99s jump between two levels, and a
 * median of them would jump with them.
 */
function latencyFigures(rounds: LatencyRound[], variant: Variant) {
  const samples = rounds.flatMap((r) => r.runs[variant]?.latenciesMs ?? []);
  return { samples: samples.length, p50: percentile(samples, 50), p99: percentile(samples, 99) };
}

/**
 * Proxy-process CPU per request in the paced rounds, where the variants served interleaved
 * requests in the same seconds, so a drift of the machine (other tenants, clock changes)
 * weighs on all alike: per variant the median over rounds, and the median of each round's
 * gateway / fixed ratio. NaN where the figures have none.
 */
function pairedCpu(rounds: LatencyRound[]) {
  const per = (r: LatencyRound, v: Variant) => {
    const seconds = r.cpuSeconds?.[v];
    const run = r.runs[v];
    return seconds === undefined || !run ? NaN : us(seconds, run.responses);
  };
  const of = (v: Variant) => median(rounds.map((r) => per(r, v)).filter(Number.isFinite));
  return {
    proxy: { baseline: of('baseline'), fixed: of('fixed'), gateway: of('gateway') },
    gatewayVsFixed: median(rounds.map((r) => per(r, 'gateway') / per(r, 'fixed')).filter(Number.isFinite)),
  };
}

/** CPU per request of each gateway in the side-by-side rounds (medians), and the median of the rounds' gateway / fixed ratios. */
const sideBySideUs = (r: SideBySideRound, v: 'fixed' | 'gateway') => us(r.cpuSeconds[v], r.runs[v].responses);

function sideBySideCpu(rounds: readonly SideBySideRound[]) {
  const per = sideBySideUs;
  return {
    fixed: median(rounds.map((r) => per(r, 'fixed'))),
    gateway: median(rounds.map((r) => per(r, 'gateway'))),
    ratio: median(rounds.map((r) => per(r, 'gateway') / per(r, 'fixed'))),
  };
}

/**
 * What a comparison of two builds (BENCH_COMPARE_WITH) answers: this checkout's gateway CPU
 * per request against the other's, the median of the side-by-side rounds' ratios (in the
 * rounds, `gateway` is this build and `fixed` the other).
 */
export function comparisonSummary(rounds: readonly SideBySideRound[], other: string): string {
  const cpu = sideBySideCpu(rounds);
  const ratios = rounds.map((r) => sideBySideUs(r, 'gateway') / sideBySideUs(r, 'fixed')).sort((a, b) => a - b);
  return (
    `gateway CPU per request, this checkout / ${other}: ratio ${cpu.ratio.toFixed(3)} (the median of ${rounds.length} side-by-side rounds: ` +
    `${ratios.map((r) => r.toFixed(3)).join(', ')}; medians ${f0(cpu.gateway)} vs ${f0(cpu.fixed)} µs)`
  );
}

export function gatewayReport(input: ReportInput): Report {
  const { config, throughput, latency } = input;
  const workload = input.workload ?? EXPORT_WORKLOAD;
  const coreCount = input.run.cores;
  // The variants the figures hold: those saved before the fixed-charge twin, and the export workload's, have two.
  const variants = VARIANTS.filter((v) => throughput.some((t) => t.variant === v));
  const withFixed = variants.includes('fixed');
  // A variant that did not run has NaN figures, shown nowhere.
  const tp = { baseline: throughputFigures(throughput, 'baseline'), fixed: throughputFigures(throughput, 'fixed'), gateway: throughputFigures(throughput, 'gateway') };
  const lat = { baseline: latencyFigures(latency, 'baseline'), fixed: latencyFigures(latency, 'fixed'), gateway: latencyFigures(latency, 'gateway') };
  const ratio = tp.gateway.rate / tp.baseline.rate;
  const cpuVsFixed = tp.gateway.cpu.proxy / tp.fixed.cpu.proxy;
  const paired = pairedCpu(latency);
  const side = sideBySideCpu(input.sideBySide ?? []);
  const hasSide = Number.isFinite(side.ratio);
  // Judged with both gateways loaded at once where the figures have it: one at a time, the machine drifts between their runs.
  const judged = hasSide ? side.ratio : cpuVsFixed;
  const cpuTarget = `≤ ${f2(TARGET_CPU_VS_FIXED)} | ${met(judged <= TARGET_CPU_VS_FIXED)}`;
  const addedP50 = lat.gateway.p50 - lat.baseline.p50;
  const addedP99 = lat.gateway.p99 - lat.baseline.p99;
  const rateShare = config.rate / Math.min(...variants.map((v) => tp[v].rate));
  const responses = [...throughput.map((t) => t.run), ...latency.flatMap((r) => Object.values(r.runs))].reduce((sum, run) => sum + run.responses, 0);
  // The words that depend on how many variants ran; with two, they are those of the report before the third.
  const n = withFixed
    ? { count: 'three', all: 'all', All: 'All', share: 'a third of that', lowest: 'the lowest of the three maxima', gateways: "each gateway process's" }
    : { count: 'two', all: 'both', All: 'Both', share: 'half that', lowest: 'the lower of the two maxima', gateways: "the gateway's" };
  // With three variants the comparison column holds several comparisons: each cell names its own.
  const compared = (what: string, figure: string) => (withFixed ? `${what}: ${figure}` : figure);
  const cells = (f: (v: Variant) => string) => variants.map(f).join(' | ');
  const busiestOthers = Math.max(...throughput.map(otherCores));
  const gatewayTotal = (f: (g: GatewayCounters) => number) => latency.reduce((sum, r) => sum + f(r.gateway), 0);
  const decisionMs = (gatewayTotal((g) => g.decisionSeconds) * 1000) / gatewayTotal((g) => g.decisions);

  const summaryTable = [
    `| | ${cells((v) => VARIANT_NAMES[v])} | ${withFixed ? 'compared' : 'gateway vs baseline'} | target | |`,
    `|---|${variants.map(() => '--:|').join('')}--:|--:|---|`,
    `| throughput at ${config.connections} connections (req/s) | ${cells((v) => f0(tp[v].rate))} | ${compared('gateway / baseline', `ratio **${f2(ratio)}**`)} | ` +
      `≥ ${f2(TARGET_RATIO)} | ${met(ratio >= TARGET_RATIO)} |`,
    `| p50 latency at ${config.rate} req/s (ms) | ${cells((v) => f2(lat[v].p50))} | ${compared('gateway − baseline', `**${signed(addedP50)}** ms`)} | | |`,
    `| p99 latency at ${config.rate} req/s (ms) | ${cells((v) => f2(lat[v].p99))} | ${compared('gateway − baseline', `**${signed(addedP99)}** ms`)} | ` +
      `≤ +${TARGET_ADDED_P99_MS} ms | ${met(addedP99 <= TARGET_ADDED_P99_MS)} |`,
    ...(withFixed
      ? [
          `| proxy-process CPU per request at ${config.connections} connections, one at a time (µs) | ${cells((v) => f0(tp[v].cpu.proxy))} | ` +
            `${compared('priced / fixed-charge route', hasSide ? `ratio ${f2(cpuVsFixed)}` : `ratio **${f2(cpuVsFixed)}**`)} | ${hasSide ? ' | ' : cpuTarget} |`,
          ...(hasSide
            ? [
                `| proxy-process CPU per request, both gateways loaded at once (µs) | ${cells((v) => (v === 'baseline' ? '' : f0(side[v])))} | ` +
                  `${compared('priced / fixed-charge route', `ratio **${f2(side.ratio)}**`)} | ${cpuTarget} |`,
              ]
            : []),
          ...(Number.isFinite(paired.gatewayVsFixed)
            ? [
                `| proxy-process CPU per request at ${config.rate} req/s, interleaved (µs) | ${cells((v) => f0(paired.proxy[v]))} | ` +
                  `${compared('priced / fixed-charge route', `ratio ${f2(paired.gatewayVsFixed)}`)} | | |`,
              ]
            : []),
        ]
      : []),
  ].join('\n');

  const cpuRow = (variant: Variant) => {
    const c = tp[variant].cpu;
    return `| ${VARIANT_NAMES[variant]} | ${f0(c.proxy)} | ${f0(c.upstream)} | ${f0(c.redis)} | ${f0(c.loadGenerator)} | ${f0(c.machine)} | ${f2(c.proxyCores)} | ${f2(c.machineCores)} | ${f2(c.otherCores)} |`;
  };
  const cpuTable = [
    `| at ${config.connections} connections | proxy process | demo upstream | Redis | load generator | whole machine | proxy process busy (cores) | machine busy (cores of ${coreCount}) | of which others (cores) |`,
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|',
    ...variants.map(cpuRow),
  ].join('\n');

  const throughputTable = [
    '| round | variant | req/s | responses | p50 ms | p99 ms | proxy CPU µs/req | other cores | mean decision ms |',
    '|--:|---|--:|--:|--:|--:|--:|--:|--:|',
    ...throughput.map(
      (t) =>
        `| ${t.round} | ${t.variant} | ${f0(t.run.rate)} | ${f0(t.run.responses)} | ${p(t.run, 50)} | ${p(t.run, 99)} | ${f0(us(t.cpu.proxy, t.run.responses))} | ` +
        `${f2(otherCores(t))} | ${t.gateway ? f2(meanDecisionMs(t.gateway)) : ''} |`,
    ),
  ].join('\n');
  const latencyTable = [
    `| round | ${cells((v) => `${v} p50 / p99 / p99.9 ms`)} | gateway mean decision ms | gateway GC pauses ≥ 10 ms | send lag p99 ms |`,
    `|--:|${variants.map(() => '--:|').join('')}--:|--:|--:|`,
    ...latency.map(
      (r) => `| ${r.round} | ${cells((v) => latencyCells(r.runs[v]))} | ${f2(meanDecisionMs(r.gateway))} | ${r.gateway.longGcs} of ${r.gateway.gcs} | ${f2(r.sendLagP99Ms)} |`,
    ),
  ].join('\n');

  const verdicts = [
    `throughput ratio gateway / baseline: **${f2(ratio)}** — target ≥ ${f2(TARGET_RATIO)}: ${met(ratio >= TARGET_RATIO)}`,
    `added latency at ${config.rate} req/s: p50 **${signed(addedP50)} ms**, p99 **${signed(addedP99)} ms** — target p99 ≤ +${TARGET_ADDED_P99_MS} ms: ${met(addedP99 <= TARGET_ADDED_P99_MS)}`,
    `of the added p50, the quota decision itself (the gateway's \`quotagate_decision_seconds\`, mean) accounts for ${f2(decisionMs)} ms; ` +
      `during the latency runs the gateway paused ${gatewayTotal((g) => g.longGcs)} times for 10 ms or more to collect garbage (of ${gatewayTotal((g) => g.gcs)} collections)`,
    `CPU per request at ${config.connections} connections: proxy process ${f0(tp.baseline.cpu.proxy)} → ${f0(tp.gateway.cpu.proxy)} µs, ` +
      `Redis ${f0(tp.baseline.cpu.redis)} → ${f0(tp.gateway.cpu.redis)} µs, whole machine ${f0(tp.baseline.cpu.machine)} → ${f0(tp.gateway.cpu.machine)} µs; ` +
      `at its maximum the gateway process was busy ${f2(tp.gateway.cpu.proxyCores)} cores and the machine ${f2(tp.gateway.cpu.machineCores)} of ${coreCount}` +
      (tp.gateway.cpu.proxyCores >= SATURATED
        ? `: its one event loop, not the machine, is what limits it, so a ratio ≥ ${f2(TARGET_RATIO)} takes ≤ ${f0(tp.baseline.cpu.proxy / TARGET_RATIO)} µs ` +
          `of gateway-process CPU per request (the baseline's ${f0(tp.baseline.cpu.proxy)} / ${f2(TARGET_RATIO)})`
        : tp.gateway.cpu.machineCores >= SATURATED * coreCount
          ? ': the machine is what limits it'
          : ''),
    ...(withFixed
      ? [
          `gateway CPU per request, priced / fixed-charge route: ` +
            (hasSide
              ? `ratio **${f2(side.ratio)}** with both gateways loaded at once (${f0(side.fixed)} → ${f0(side.gateway)} µs; the median of the rounds' ratios)`
              : `ratio **${f2(cpuVsFixed)}** at ${config.connections} connections`) +
            ` — target ≤ ${f2(TARGET_CPU_VS_FIXED)}: ${met(judged <= TARGET_CPU_VS_FIXED)}. ` +
            `${hasSide ? 'One at a time, at' : 'At'} ${config.connections} connections: ratio ${f2(cpuVsFixed)} (gateway process ${f0(tp.fixed.cpu.proxy)} → ` +
            `${f0(tp.gateway.cpu.proxy)} µs, Redis ${f0(tp.fixed.cpu.redis)} → ${f0(tp.gateway.cpu.redis)} µs)` +
            (Number.isFinite(paired.gatewayVsFixed)
              ? `; at ${config.rate} req/s, the two serving interleaved requests: ratio ${f2(paired.gatewayVsFixed)} (${f0(paired.proxy.fixed)} → ` +
                `${f0(paired.proxy.gateway)} µs; a process woken for each request at a moderate rate spends more per request, the same for both)`
              : ''),
        ]
      : []),
    `${config.rate} req/s is ${Math.round(rateShare * 100)}% of ${n.lowest}` +
      (rateShare <= MODERATE_SHARE ? '' : ` — above ${MODERATE_SHARE * 100}%, so queueing inflates these latencies: lower BENCH_RATE`),
    `other processes (Postgres, the OS, anything else running) kept up to ${f2(busiestOthers)} cores busy during a throughput run` +
      (busiestOthers <= QUIET_OTHERS ? '' : ` — more than ${QUIET_OTHERS}: the machine was not quiet, so these figures are disturbed`),
  ];

  // Described by the figures' own workload: priced figures saved before the twin have none.
  const fixedTwin = withFixed ? workload.fixedTwin : undefined;
  const fixedBullet = fixedTwin
    ? `\n  - **${VARIANT_NAMES.fixed}**: the same gateway, plan and request rate, but route \`${workload.route.name}\` ${fixedTwin.charges}.\n    ${fixedTwin.scripts}`
    : '';

  const markdown = `
- **Run**: ${input.run.at} — \`${workload.command ?? 'npm run bench:gateway'}\`
- **Machine**: ${input.run.cores} CPU cores (${input.run.cpuModel}), Node ${input.run.node}, Redis ${input.redisVersion} (${input.redis}), PostgreSQL ${input.postgresVersion}.
  Each Node server is a process of its own, with one event loop: at full load either that process (one core) or the machine sets the maximum.
  ${
    input.cores
      ? `Cores (taskset): the proxies under test on ${input.cores.proxy}; this process (the load generator), the demo upstream and Redis on ${input.cores.rest}; Postgres unpinned.`
      : 'Cores: not pinned (no taskset, or one core): the scheduler places every process, and the maxima move with its choices.'
  }
- **Workload**: \`${workload.route.method} ${workload.route.path}\` with a ${workload.bodyBytes}-byte JSON body, to the demo upstream (${workload.answer});
  ${config.subjects} API keys (one subject each) taken in turn.
  - **${VARIANT_NAMES.gateway}**: \`startGateway()\`, route \`${workload.route.name}\` ${workload.charges}
    and a request rate of ${RATE.rps.toLocaleString('en-US')}/s (burst ${RATE.burst.toLocaleString('en-US')}): the whole decision (rate, counter, outbox event) on
    every request, none denied. ${workload.scripts} API keys are cached ${input.authCacheTtlMs / 1000} s,
    so each key costs a Postgres lookup that often. No flusher runs (outboxes are emptied between runs).${fixedBullet}
  - **${VARIANT_NAMES.baseline}**: the same route in a Hono app on @hono/node-server with the gateway's \`UpstreamClient\`, header rules and body handling
    (bodies up to 64 KiB passed whole, the rest streamed, as the gateway does); no key, no quota, no metrics, no request logger.
  - ${n.All} run from source under tsx, as \`npm start\` runs the gateway.
- **Throughput**: autocannon, ${config.connections} keep-alive connections (closed loop), one variant at a time, alternating which goes first; a warm-up of
  ${config.warmupRequestsPerConnection} requests per connection, then as many requests as the warm-up's rate gives in ${config.durationMs / 1000} s. Runs end by count, not time,
  so no request is cut off in flight. Before the first round each variant is primed with ${config.primingRequestsPerConnection} requests per connection
  (JIT, caches, connection pools). Figures: the medians over ${config.rounds} rounds.
${
  hasSide
    ? `- **Side by side** (the target's figure): both gateways under closed-loop load at the same time, ${Math.max(1, Math.floor(config.connections / 2))} connections each, on the core they
  share, for about ${config.durationMs / 1000} s each at the rate each had in a warm-up run the same way; each one's CPU per request over the same seconds, so the machine's
  drift, which moves the one-at-a-time runs by a third within minutes here, weighs on both alike. Figures: the medians over ${input.sideBySide!.length} rounds.
`
    : ''
}- **Latency**: an open loop at a fixed ${config.rate} req/s (request i sent at i/${config.rate} s whatever the answers; undici pools of up to
  ${config.connections} connections), its requests going to the ${n.count} variants in turn, ${config.block} at a time: each serves ${config.rate} req/s while it is its turn
  (${n.share} on average), and a pause of the machine falls on ${n.all} alike. ${config.rounds} rounds of ${(2 * config.durationMs) / 1000} s, each after a ${config.warmupMs / 1000} s warm-up;
  latency from sending to the end of the body; percentiles over all rounds pooled (${lat.gateway.samples.toLocaleString('en-US')} samples per variant).
  autocannon's \`overallRate\` is not used: it sends each connection's quota for a second back to back, so it measures bursts at full concurrency.
- **Verified**: all ${responses.toLocaleString('en-US')} measured responses (and every warm-up one) were 2xx with no connection error, and ${n.gateways}
  own counters show exactly one "allowed" decision per response it served and no other outcome.

${summaryTable}

CPU per request, µs (medians of the throughput runs; /proc for the Node processes, INFO for Redis; whole machine includes Postgres and the OS):

${cpuTable}

${verdicts.map((v) => `- ${v}`).join('\n')}

<details><summary>Every measured run</summary>

${throughputTable}

${latencyTable}
${
  hasSide
    ? `\n| side-by-side round | fixed req/s | fixed CPU µs/req | gateway req/s | gateway CPU µs/req | ratio |\n|--:|--:|--:|--:|--:|--:|\n` +
      input
        .sideBySide!.map((r) => {
          const per = (v: 'fixed' | 'gateway') => sideBySideUs(r, v);
          return `| ${r.round} | ${f0(r.runs.fixed.rate)} | ${f0(per('fixed'))} | ${f0(r.runs.gateway.rate)} | ${f0(per('gateway'))} | ${f2(per('gateway') / per('fixed'))} |`;
        })
        .join('\n') +
      '\n'
    : ''
}
Other cores: the machine's busy CPU minus that of the processes measured. Mean decision: the gateway's \`quotagate_decision_seconds\`.
GC pauses: the gateway's garbage collections (its \`nodejs_gc_duration_seconds\`) that paused it 10 ms or more, of all. Send lag: how late
the paced generator sent (its own accuracy).
</details>
`;
  const summary = `\n${summaryTable}\n\n${cpuTable}\n\n${verdicts.map((v) => `- ${v.replace(/\*\*/g, '')}`).join('\n')}`;
  return { markdown, summary };
}
