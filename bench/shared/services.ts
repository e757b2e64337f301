import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { spawnOwned } from '../../test/support/owned-processes.js';

/** A server the benchmark runs in a child process of its own. */
export interface Service {
  name: string;
  url: string;
  pid: number;
  /** SIGTERM, then SIGKILL if it has not exited within 5 s. Idempotent. */
  stop(): Promise<void>;
}

const READY = /^listening on (http:\/\/\S+)$/;
const START_TIMEOUT_MS = 20_000;

const exited = (child: ChildProcess) => (child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => child.once('exit', () => r())));

export interface ServiceOptions {
  args?: string[];
  /** Added to this process's environment. */
  env?: NodeJS.ProcessEnv;
  /** Cores to pin it to (a taskset CPU list); default: this process's. */
  cpus?: string;
}

/**
 * Runs the module at `entry` under tsx (`node --import tsx`, the same Node as this process) and
 * waits for its `listening on <url>` line. Its other output goes to stderr, prefixed with
 * `name`. It dies with the benchmark, whatever ends it (test/support/owned-processes.ts).
 */
export async function startService(name: string, entry: URL, options: ServiceOptions = {}): Promise<Service> {
  // BENCH_CPU_PROF=<dir>: each service writes V8 CPU profiles (one per thread, named by pid) there when it stops (SIGTERM), for finding where its time goes.
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  const node = [process.execPath, ...profile, '--import', 'tsx', fileURLToPath(entry), ...(options.args ?? [])];
  // taskset (like setpriv) execs what follows, so child.pid is the server's own pid (whose CPU the benchmark reads).
  const [file, ...argv] = options.cpus ? ['taskset', '-c', options.cpus, ...node] : node;
  const child = spawnOwned(file!, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });

  const forward = (line: string) => process.stderr.write(`[${name}] ${line}\n`);
  createInterface({ input: child.stderr! }).on('line', forward);
  const stdout = createInterface({ input: child.stdout! });
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited(child);
      clearTimeout(timer);
    })());

  try {
    const url = await new Promise<string>((resolve, reject) => {
      const fail = (message: string) => {
        clearTimeout(timer);
        reject(new Error(message));
      };
      const timer = setTimeout(() => fail(`${name} did not print "listening on <url>" within ${START_TIMEOUT_MS / 1000} s`), START_TIMEOUT_MS);
      child.once('error', (err) => fail(`${name} could not be started: ${err.message}`));
      child.once('exit', (code, signal) => fail(`${name} exited (${signal ?? `code ${code}`}); its output is above`));
      stdout.on('line', (line) => {
        const ready = READY.exec(line);
        if (!ready) return forward(line);
        clearTimeout(timer);
        resolve(ready[1]!);
      });
    });
    return { name, url, pid: child.pid!, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
