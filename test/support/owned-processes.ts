import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Child processes and temp dirs that never outlive the process that made them (a test
 * file, a benchmark): on exit, children are SIGKILLed and dirs removed; on Linux the kernel
 * also kills a child when its parent dies, even by SIGKILL (`setpriv --pdeathsig`).
 * No vitest here: benchmarks use it too.
 */

const liveChildren = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: kill and delete without waiting.
  process.on('exit', () => {
    for (const child of liveChildren) child.kill('SIGKILL');
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  });
}

let pdeathsig: boolean | undefined;
const supportsPdeathsig = (): boolean => (pdeathsig ??= spawnSync('setpriv', ['--pdeathsig', 'SIGKILL', 'true'], { stdio: 'ignore' }).status === 0);

/** Spawns `command` as an owned child. setpriv execs the command, so `pid` is the command's own. */
export function spawnOwned(command: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
  installExitHook();
  const child = supportsPdeathsig() ? spawn('setpriv', ['--pdeathsig', 'SIGKILL', command, ...args], options) : spawn(command, [...args], options);
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  return child;
}

/**
 * The environment for a server a test starts (redis-server): the tests' own, without
 * libfaketime. When the suite runs under `faketime` to move the Node process's clock, the
 * servers stand for real infrastructure and keep the real time, as Redis would in
 * production while a gateway's clock is off.
 */
export function realClockEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out = Object.fromEntries(Object.entries(env).filter(([name]) => !name.startsWith('FAKETIME') && name !== 'DONT_FAKE_MONOTONIC'));
  const preload = env.LD_PRELOAD?.split(/[: ]/).filter((lib) => lib !== '' && !lib.includes('faketime'));
  if (preload !== undefined) {
    if (preload.length > 0) out.LD_PRELOAD = preload.join(':');
    else delete out.LD_PRELOAD;
  }
  return out;
}

/** A fresh temp dir, removed by `remove()` or at exit, whichever comes first. */
export function ownedTempDir(prefix: string): { path: string; remove(): void } {
  installExitHook();
  const path = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(path);
  return {
    path,
    remove() {
      rmSync(path, { recursive: true, force: true });
      tempDirs.delete(path);
    },
  };
}
