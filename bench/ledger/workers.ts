import type { Redis } from 'ioredis';
import type { KeySchema } from '../../src/redis/keys.js';
import { addHistograms, emptyHistogram, parseHistogram, parseSample, type Histogram } from './prom-histogram.js';
import { processCpuSeconds } from '../shared/process-cpu.js';
import { startService, type Service } from '../shared/services.js';

/** What the worker processes report together (their metrics summed). */
export interface WorkerSample {
  /** quotagate_ledger_lag_seconds: commit (and acknowledgement) time − event time, per event. */
  lag: Histogram;
  /** quotagate_flush_batch_size: entries per committed batch. */
  batch: Histogram;
  /** quotagate_ledger_events_total: events new to the ledger. */
  events: number;
}

export interface Workers {
  readonly pids: number[];
  sample(): Promise<WorkerSample>;
  /** CPU seconds the worker processes have used so far. */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

/**
 * Starts `count` worker processes (bench/ledger-worker.ts) with `env` on top of this
 * process's environment, each in a process of its own as in production.
 */
export async function startWorkers(count: number, env: Record<string, string>, profileFile?: (index: number) => string): Promise<Workers> {
  const services: Service[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const profile = profileFile ? { BENCH_CPU_PROF: profileFile(i) } : {};
      services.push(await startService(`worker ${i + 1}`, new URL('./worker.ts', import.meta.url), { env: { ...env, ...profile } }));
    }
  } catch (err) {
    await Promise.all(services.map((s) => s.stop()));
    throw err;
  }
  return {
    pids: services.map((s) => s.pid),
    async sample() {
      const texts = await Promise.all(
        services.map(async (s) => {
          const response = await fetch(s.url);
          if (!response.ok) throw new Error(`${s.name}: GET ${s.url} answered ${response.status}`);
          return response.text();
        }),
      );
      return texts.reduce<WorkerSample>(
        (sum, text) => ({
          lag: addHistograms(sum.lag, parseHistogram(text, 'quotagate_ledger_lag_seconds')),
          batch: addHistograms(sum.batch, parseHistogram(text, 'quotagate_flush_batch_size')),
          events: sum.events + parseSample(text, 'quotagate_ledger_events_total'),
        }),
        { lag: emptyHistogram(), batch: emptyHistogram(), events: 0 },
      );
    },
    cpuSeconds: () => services.reduce((sum, s) => sum + processCpuSeconds(s.pid), 0),
    stop: async () => void (await Promise.all(services.map((s) => s.stop()))),
  };
}

export const sampleDelta = (before: WorkerSample, after: WorkerSample): WorkerSample => ({
  lag: addHistograms(after.lag, before.lag, -1),
  batch: addHistograms(after.batch, before.batch, -1),
  events: after.events - before.events,
});

/** Entries left in all the outbox streams (the flusher trims what it has committed). */
export async function outboxLength(redis: Redis, keys: KeySchema): Promise<number> {
  const pipeline = redis.pipeline();
  for (let p = 0; p < keys.partitions; p++) pipeline.xlen(keys.outbox(p));
  let total = 0;
  for (const [err, n] of (await pipeline.exec()) ?? []) {
    if (err) throw err;
    total += n as number;
  }
  return total;
}

const POLL_MS = 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves once every outbox is empty; fails after `timeoutMs`, saying how much was left. */
export async function waitDrained(redis: Redis, keys: KeySchema, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (let left = await outboxLength(redis, keys); left > 0; left = await outboxLength(redis, keys)) {
    if (performance.now() > deadline) throw new Error(`the outboxes still held ${left} entries after ${timeoutMs / 1000} s`);
    await sleep(POLL_MS);
  }
}

export interface Drain {
  /** performance.now() when the outboxes were first seen shorter than `total` (the first commits). */
  startedAt: number;
  /** Entries left then: all of them were flushed between `startedAt` and `drainedAt`. */
  leftAtStart: number;
  drainedAt: number;
}

/**
 * Watches outboxes holding `total` entries drain. The window starts when the first commit
 * shows (so the worker's process start and connection set-up are not in it) and ends when
 * they are empty; `onStart` runs at its start (e.g. to read CPU counters).
 */
export async function watchDrain(redis: Redis, keys: KeySchema, total: number, timeoutMs: number, onStart: () => Promise<void>): Promise<Drain> {
  const deadline = performance.now() + timeoutMs;
  let start: { at: number; left: number } | undefined;
  for (;;) {
    const left = await outboxLength(redis, keys);
    const at = performance.now();
    if (!start && left < total) {
      start = { at, left };
      await onStart();
    }
    if (left === 0) {
      if (start!.left === 0) throw new Error('the outboxes drained between two looks: too few entries to time the flush');
      return { startedAt: start!.at, leftAtStart: start!.left, drainedAt: at };
    }
    if (at > deadline) throw new Error(`the outboxes still held ${left} of ${total} entries after ${timeoutMs / 1000} s`);
    await sleep(POLL_MS);
  }
}
