import { profileMarkdown, type ProfileSummary } from '../shared/cpu-profile.js';
import { BASE_PLAN, METRIC, POLICY_FILE, RATE_CLASS } from '../shared/consume-workload.js';
import type { CpuSpent } from './cpu.js';
import type { Reconciliations } from './database.js';
import type { RawInsert } from './raw.js';
import type { PacedRun } from '../shared/paced.js';
import { histogramQuantile, shareAtMost, type Histogram } from './prom-histogram.js';
import { percentile } from '../shared/stats.js';
import type { RunInfo } from '../shared/results.js';

/** One drain of the filled outboxes at one batch size, with its raw-insert baseline. */
export interface FlushRun {
  batchSize: number;
  /** Events flushed in the timed window (first commit seen → outboxes empty). */
  events: number;
  seconds: number;
  /** From putting the entries back (under idle workers) to empty outboxes: the wait for the next flush tick included. */
  wallSeconds: number;
  /** CPU over the timed window. */
  cpu: CpuSpent;
  /** The workers' quotagate_flush_batch_size over the run. */
  batches: Histogram;
  raw: RawInsert;
  /** The reconcile jobs that ran during the run. */
  reconciled: Reconciliations;
  profile?: ProfileSummary;
}

export interface LagRun {
  rate: number;
  durationMs: number;
  warmupMs: number;
  decisions: PacedRun;
  /** From the last decision to empty outboxes. */
  drainSeconds: number;
  /** Exact, from usage_events: recorded_at (the write's transaction start) − occurred_at. */
  ledger: { events: number; p50Ms: number; p99Ms: number; maxMs: number };
  /** The workers' quotagate_ledger_lag_seconds (commit and acknowledgement − event time) over the measured window. */
  histogram: Histogram;
  /** The workers' quotagate_flush_batch_size over the measured window. */
  batches: Histogram;
  cpu: CpuSpent;
  reconciled: Reconciliations;
  profile?: ProfileSummary;
}

export interface ReportInput {
  run: RunInfo;
  config: {
    events: number;
    workers: number;
    concurrency: number;
    flushIntervalMs: number;
    lagBatchSize: number;
    partitions: number;
    subjects: number;
  };
  flushRuns: FlushRun[];
  lagRun: LagRun;
  redisVersion: string;
  redis: string;
  postgresVersion: string;
  profiled: boolean;
}

export interface Report {
  markdown: string;
  summary: string;
}

const TARGET_EVENTS_PER_SECOND = 50_000;
const TARGET_LAG_P99_S = 1;
/** Below this share of the asked rate, the generator (or the machine) did not keep up. */
const RATE_HELD = 0.98;
/** Cores that processes outside the benchmark may use before its figures are called disturbed. */
const QUIET_OTHERS = 0.25;

const f0 = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : 'n/a');
const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : 'n/a');
const ms = (seconds: number) => (Number.isFinite(seconds) ? `${f0(seconds * 1000)} ms` : seconds === Infinity ? '∞' : 'n/a');
const met = (ok: boolean) => (ok ? '**met**' : '**missed**');
const reconciledText = (r: Reconciliations) => (r.runs === 0 ? 'none' : `${r.runs} (${f0(r.compared)} keys compared, ${f1(r.seconds)} s)`);
const perEvent = (cpuSeconds: number, events: number) => (cpuSeconds * 1e6) / events;
/** CPU seconds a flush run's own processes used: the workers, Redis and the Postgres backends. */
const cpuOf = (r: FlushRun) => r.cpu.workers + r.cpu.redis + r.cpu.postgres;

export function ledgerReport(input: ReportInput): Report {
  const { config, flushRuns, lagRun } = input;
  const cores = input.run.cores;
  const rate = (r: FlushRun) => r.events / r.seconds;
  const rawRate = (r: FlushRun) => r.raw.rows / r.raw.seconds;
  const best = flushRuns.reduce((a, b) => (rate(b) > rate(a) ? b : a));
  const mostOthers = Math.max(lagRun.cpu.otherCores, ...flushRuns.map((r) => r.cpu.otherCores));

  const flushTable = [
    `| batch size | flusher events/s | raw INSERT rows/s | flusher / raw | mean batch committed | worker CPU µs/event | Redis CPU µs/event | Postgres CPU µs/event | raw: Postgres CPU µs/row | raw: client CPU µs/row | machine busy (cores of ${cores}) | other processes (cores) | reconcile runs during the run |`,
    '|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
    ...flushRuns.map(
      (r) =>
        `| ${f0(r.batchSize)} | ${f0(rate(r))} | ${f0(rawRate(r))} | ${f2(rate(r) / rawRate(r))} | ${f0(r.batches.sum / r.batches.count)} | ` +
        `${f1(perEvent(r.cpu.workers, r.events))} | ${f1(perEvent(r.cpu.redis, r.events))} | ${f1(perEvent(r.cpu.postgres, r.events))} | ` +
        `${f1(perEvent(r.raw.postgresCpu, r.raw.rows))} | ${f1(perEvent(r.raw.clientCpu, r.raw.rows))} | ${f2(r.cpu.machineCores)} | ${f2(r.cpu.otherCores)} | ${reconciledText(r.reconciled)} |`,
    ),
  ].join('\n');

  const d = lagRun.decisions;
  const h = lagRun.histogram;
  const within = shareAtMost(h, TARGET_LAG_P99_S);
  const q50 = histogramQuantile(h, 0.5);
  const q99 = histogramQuantile(h, 0.99);
  const bracket = (q: { lower: number; upper: number }) => `${ms(q.lower)}–${ms(q.upper)}`;
  const c = lagRun.cpu;
  const lagTable = [
    '| | |',
    '|---|--:|',
    `| decisions/s asked → achieved | ${f0(lagRun.rate)} → **${f0(d.rate)}** (${f0(d.completed)} decisions in ${f1(d.seconds)} s; generator's send lag p99 ${f1(d.sendLagP99Ms)} ms) |`,
    `| decision latency p50 / p99 (QuotaEngine.consume) | ${f2(percentile(d.latenciesMs, 50))} / ${f2(percentile(d.latenciesMs, 99))} ms |`,
    `| ledger lag to the write, exact (usage_events: recorded_at − occurred_at; ${f0(lagRun.ledger.events)} events): p50 / p99 / max | ${f0(lagRun.ledger.p50Ms)} / **${f0(lagRun.ledger.p99Ms)}** / ${f0(lagRun.ledger.maxMs)} ms |`,
    `| ledger lag to the commit (worker's quotagate_ledger_lag_seconds, ${f0(h.count)} events): share ≤ 1 s | **${f2(100 * within)}%** |`,
    `| same histogram: p50 / p99 (histogram_quantile estimate, and the bucket it lies in) | ${ms(q50.estimate)} (${bracket(q50)}) / ${ms(q99.estimate)} (${bracket(q99)}) |`,
    `| flush transactions committed (during the measured window and the drain after it) | ${f0(lagRun.batches.count)}: ${f0(lagRun.batches.count / (d.seconds + lagRun.drainSeconds))}/s, ${f1(lagRun.batches.sum / lagRun.batches.count)} events each on average |`,
    `| outboxes empty after the last decision | ${f2(lagRun.drainSeconds)} s |`,
    `| reconcile runs during the lag run | ${reconciledText(lagRun.reconciled)} |`,
    `| CPU, cores: load generator (this process) / worker${config.workers > 1 ? 's' : ''} / Redis / Postgres backends / other processes | ` +
      `${f2(c.self / c.seconds)} / ${f2(c.workers / c.seconds)} / ${f2(c.redis / c.seconds)} / ${f2(c.postgres / c.seconds)} / ${f2(c.otherCores)} (machine ${f2(c.machineCores)} of ${cores}) |`,
  ].join('\n');

  const heldRate = d.rate >= RATE_HELD * lagRun.rate;
  const verdicts = [
    `flush throughput: **${f0(rate(best))} events/s** (batch size ${f0(best.batchSize)}) — target ≥ ${f0(TARGET_EVENTS_PER_SECOND)}: ${met(rate(best) >= TARGET_EVENTS_PER_SECOND)}; ` +
      `the database alone took the same rows at ${f0(rawRate(best))}/s (flusher / raw ${f2(rate(best) / rawRate(best))})`,
    `ledger lag under ${f0(d.rate)} decisions/s: p99 **${ms(lagRun.ledger.p99Ms / 1000)}** to the write (exact), ${f2(100 * within)}% of events committed within 1 s — target p99 ≤ 1 s: ` +
      `${met(within >= 0.99 && lagRun.ledger.p99Ms <= TARGET_LAG_P99_S * 1000)}` +
      (heldRate ? '' : ` — but only ${f0(d.rate)} of the ${f0(lagRun.rate)} decisions/s asked were made: the machine did not keep up, so the target load was not reached`),
    `CPU per flushed event at batch size ${f0(best.batchSize)}: ${f1(perEvent(cpuOf(best), best.events))} µs (worker ${f1(perEvent(best.cpu.workers, best.events))}, ` +
      `Redis ${f1(perEvent(best.cpu.redis, best.events))}, Postgres ${f1(perEvent(best.cpu.postgres, best.events))}), against ${f1(perEvent(best.raw.postgresCpu + best.raw.clientCpu, best.raw.rows))} µs per row ` +
      `for the raw insert; ${cores} cores busy with nothing else would flush at most ${f0((cores * best.events) / cpuOf(best))} events/s`,
    mostOthers > QUIET_OTHERS
      ? `other processes (Postgres's background writers, the OS, anything else running) kept up to ${f2(mostOthers)} cores busy during a run — more than ${QUIET_OTHERS}: the machine was not quiet, so these figures are disturbed`
      : `other processes kept at most ${f2(mostOthers)} cores busy during any run: a quiet machine`,
  ];

  const profiles = [...flushRuns.map((r) => ({ label: `flush run, batch size ${f0(r.batchSize)}`, profile: r.profile })), { label: 'lag run', profile: lagRun.profile }]
    .filter((p): p is { label: string; profile: ProfileSummary } => p.profile !== undefined)
    .map((p) => `<details><summary>CPU profile of worker 1, ${p.label}</summary>\n\n${profileMarkdown(p.profile)}\n</details>`);

  const markdown = `
- **Run**: ${input.run.at} — \`npm run bench:ledger\`${input.profiled ? ' with BENCH_CPU_PROF (workers under the V8 sampling profiler: a few % slower)' : ''}
- **Machine**: ${input.run.cores} CPU cores (${input.run.cpuModel}), Node ${input.run.node}, Redis ${input.redisVersion} (${input.redis}), PostgreSQL ${input.postgresVersion}.
  The worker process${config.workers > 1 ? 'es' : ''}, Redis, Postgres and this process (the filler, the raw-insert client, the load generator) all share
  these ${cores} cores: every figure is the whole machine's, not the worker's alone.
- **Events**: the consume script's own: each an allowed \`consume\` of 1 × \`${METRIC}\` plus the \`${BASE_PLAN}\` plan's request rate in class \`${RATE_CLASS}\`
  (plan \`${BASE_PLAN}\` of \`${POLICY_FILE}\`, limit raised so nothing is denied), for one of ${f0(config.subjects)} subjects over ${config.partitions} partitions.
  The subjects exist in the \`subjects\` table, as in a deployment (the worker looks them up for usage-threshold notifications; none is due).
- **Workers**: ${config.workers} worker process${config.workers > 1 ? 'es' : ''} (\`startWorker\`, as \`quotagate worker\` runs it), QG_WORKER_CONCURRENCY ${config.concurrency},
  QG_FLUSH_INTERVAL_MS ${config.flushIntervalMs}, started anew for every run on a freshly created and migrated database, with no BullMQ state
  left from the run before; the reconciliation a worker runs as soon as it starts is let finish (on the empty ledger) before the run begins.
- **Flush throughput**: ${f0(config.events)} events put in the outboxes once (${f0(config.subjects)} through \`QuotaEngine.consume\`, the rest replaying
  the engine's exact EVALSHA calls with fresh request ids, pipelined), then DUMPed and, for each run, RESTOREd under the idle, running workers,
  so every run drains the same entries. Events/s: entries flushed from the first commit seen to empty outboxes (polled every 20 ms); from the
  RESTORE (the next flush tick included): ${flushRuns.map((r) => `${f1(r.wallSeconds)} s`).join(', ')}. Verified after each run: the workers counted all
  ${f0(config.events)} events new to the ledger (quotagate_ledger_events_total: none was written twice), usage_events holds that many rows
  and usage_counters add up to it.
- **Raw baseline**: the same rows (read from the outboxes, decoded as the flusher decodes them) inserted into \`usage_events\` alone with
  LedgerWriter's own \`INSERT\` (the batch as one JSON parameter, \`jsonb_array_elements\`), but without ON CONFLICT / RETURNING, counters or Redis: same batch size,
  ${config.concurrency} connections, one transaction per batch, parameters built before the clock starts.
- **Lag**: \`QuotaEngine.consume\` (one ioredis connection) at a fixed ${f0(lagRun.rate)} decisions/s, an open loop (decision i starts at i/${f0(lagRun.rate)} s
  whatever the answers), ${f1(lagRun.warmupMs / 1000)} s warm-up (its events all committed before the measurement starts: a new worker lags while it warms up) then ${f1(lagRun.durationMs / 1000)} s measured, QG_FLUSH_BATCH_SIZE ${config.lagBatchSize}.
  Exact figures are to the writing transaction's start (\`recorded_at\` is \`now()\`); the worker's histogram times the commit and acknowledgement,
  and its buckets (… 0.5, 1, 2.5 s …) make the share within 1 s exact but the quantiles estimates.

${flushTable}

CPU per event over the timed window: /proc for the worker process${config.workers > 1 ? 'es' : ''} and for the Postgres backends connected to the benchmark's database, INFO for Redis.

${lagTable}

${verdicts.map((v) => `- ${v}`).join('\n')}
${profiles.length > 0 ? `\n${profiles.join('\n\n')}\n` : ''}`;

  const summary = ['', flushTable, '', lagTable, '', ...verdicts.map((v) => `- ${v.replace(/\*\*/g, '')}`)].join('\n');
  return { markdown, summary };
}
