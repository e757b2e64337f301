import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { testPolicy } from './engine.js';
import { ownedTempDir, spawnOwned } from './owned-processes.js';

/**
 * The worker as a child process (`node --import tsx src/cli/main.ts worker`), for tests that
 * crash it. Children die with the test process: killed on its exit, and (on Linux, via
 * `setpriv --pdeathsig`) by the kernel when it dies, even by SIGKILL.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface WorkerProcess {
  readonly pid: number;
  /** True once the process has exited. */
  readonly exited: boolean;
  /** The last few KB of its stdout and stderr, for failure messages. */
  output(): string;
  /** SIGKILL, no shutdown at all; resolves once it has exited. */
  kill9(): Promise<void>;
  /** SIGTERM (graceful: finishes the batches in progress); SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

let policyFile: string | undefined;
/** The engine fixture's test policy as a JSON file, for POLICY_FILE (one per test process). */
export function testPolicyFile(): string {
  if (!policyFile) {
    policyFile = join(ownedTempDir('qg-policy-').path, 'policy.json');
    writeFileSync(policyFile, JSON.stringify(testPolicy));
  }
  return policyFile;
}

function waitForExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/**
 * Starts a worker process with `env` added to this process's environment (POLICY_FILE
 * defaults to the test policy).
 */
export function spawnWorkerProcess(env: Record<string, string>): WorkerProcess {
  const child = spawnOwned(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'worker'], {
    cwd: ROOT,
    env: { ...process.env, POLICY_FILE: testPolicyFile(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error('the worker process did not start');
  let output = '';
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-8_000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);

  const halt = async (signal: NodeJS.Signals, graceMs: number) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = waitForExit(child);
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };

  return {
    pid: child.pid,
    get exited() {
      return child.exitCode !== null || child.signalCode !== null;
    },
    output: () => output,
    kill9: () => halt('SIGKILL', 5_000),
    stop: (graceMs = 10_000) => halt('SIGTERM', graceMs),
  };
}
