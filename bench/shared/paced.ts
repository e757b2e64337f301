import { percentile } from './stats.js';

export interface PacedRun {
  /** Operations started (all of the schedule). */
  sent: number;
  /** Operations that resolved. */
  completed: number;
  /** From the first start to the last completion. */
  seconds: number;
  /** Completions per second over `seconds`. */
  rate: number;
  /** Each completed operation's latency, ms. */
  latenciesMs: number[];
  /** How late operations were started, p99 (ms): the pacing's own error, e.g. a busy event loop. */
  sendLagP99Ms: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Open loop: operation i starts at start + i/rate whether or not earlier ones are done, so a
 * slow answer delays no later operation (a closed loop would slow down with the system and
 * hide queueing). The first failure fails the run, once every started operation has settled.
 */
export async function paced(rate: number, durationMs: number, op: () => Promise<void>): Promise<PacedRun> {
  const latenciesMs: number[] = [];
  const lagsMs: number[] = [];
  let failure: unknown;
  const run = async () => {
    const startedAt = performance.now();
    try {
      await op();
      latenciesMs.push(performance.now() - startedAt);
    } catch (err) {
      failure ??= err;
    }
  };
  const interval = 1000 / rate;
  const total = Math.round((rate * durationMs) / 1000);
  const inFlight: Promise<void>[] = [];
  const started = performance.now();
  for (let sent = 0; sent < total && failure === undefined;) {
    // Every operation whose time has come starts now; then sleep until the next one is due.
    const now = performance.now();
    for (; sent < total && started + sent * interval <= now; sent++) {
      lagsMs.push(now - (started + sent * interval));
      inFlight.push(run());
    }
    if (sent < total) await sleep(started + sent * interval - performance.now());
  }
  await Promise.all(inFlight);
  if (failure !== undefined) throw failure;
  const seconds = (performance.now() - started) / 1000;
  return { sent: inFlight.length, completed: latenciesMs.length, seconds, rate: latenciesMs.length / seconds, latenciesMs, sendLagP99Ms: percentile(lagsMs, 99) };
}
