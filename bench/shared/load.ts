import { cpus } from 'node:os';

export interface LoadOptions {
  /** Operations kept in flight at all times (a closed loop). */
  concurrency: number;
  /** Run, unmeasured, for this long first (connections, JIT, caches). */
  warmupMs: number;
  /** Then count completions for this long. */
  durationMs: number;
}

export interface Window {
  seconds: number;
  /** CPU this process used, in cores (1 = one core busy all the time). */
  nodeCores: number;
  /** CPU the whole machine used, in cores (every process, Redis included). */
  machineCores: number;
}

export interface LoadResult<T> extends Window {
  ops: number;
  rate: number;
  /** What `probe` answered at the start and the end of the measured window. */
  probes: [T, T];
}

/** Busy and total CPU time of the machine so far (ms, summed over cores). */
export function machineCpu(): { busy: number; total: number } {
  let busy = 0;
  let total = 0;
  for (const { times } of cpus()) {
    const all = times.user + times.nice + times.sys + times.irq + times.idle;
    total += all;
    busy += all - times.idle;
  }
  return { busy, total };
}

/** Measures the time, process CPU and machine CPU spent while `fn` runs. */
export async function measureWindow<R>(fn: () => Promise<R>): Promise<{ result: R; window: Window }> {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const m0 = machineCpu();
  const result = await fn();
  const seconds = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  const m1 = machineCpu();
  const cores = cpus().length;
  return {
    result,
    window: {
      seconds,
      nodeCores: (c.user + c.system) / 1e6 / seconds,
      machineCores: m1.total > m0.total ? ((m1.busy - m0.busy) / (m1.total - m0.total)) * cores : NaN,
    },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs `op` in a closed loop with `concurrency` operations in flight, and counts the ones
 * completed during the measured window. Any failure of `op` fails the run (after the
 * in-flight operations have settled): a benchmark that errors measures nothing useful.
 */
export async function runLoad<T>(op: () => Promise<void>, opts: LoadOptions, probe: () => Promise<T>): Promise<LoadResult<T>> {
  let stop = false;
  let measuring = false;
  let ops = 0;
  let failure: unknown;
  const worker = async () => {
    while (!stop) {
      try {
        await op();
        if (measuring) ops++;
      } catch (err) {
        failure ??= err;
        stop = true;
      }
    }
  };
  const workers = Array.from({ length: opts.concurrency }, worker);
  let probes: [T, T] | undefined;
  let window: Window | undefined;
  try {
    await sleep(opts.warmupMs);
    const first = await probe();
    ({ window } = await measureWindow(async () => {
      measuring = true;
      await sleep(opts.durationMs);
      measuring = false;
    }));
    probes = [first, await probe()];
  } finally {
    stop = true;
    await Promise.all(workers);
  }
  if (failure !== undefined) throw failure;
  return { ...window, ops, rate: ops / window.seconds, probes };
}
