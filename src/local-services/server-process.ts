import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { once } from 'node:events';

/** A server (redis-server, postgres) this process started and stops. */
export interface ServerProcess {
  readonly pid: number;
  /** Graceful stop (the server's own shutdown signal), SIGKILL if it takes longer than 10 s. Idempotent. */
  stop(): Promise<void>;
}

export interface ServerSpec {
  /** For messages, e.g. "redis-server". */
  name: string;
  command: string;
  args: readonly string[];
  /** Its stdout and stderr are appended here (and quoted when it fails to start). */
  logFile: string;
  /** Polled until true: the server accepts clients. */
  ready: () => Promise<boolean>;
  /** The signal that makes it shut down cleanly (postgres: SIGINT, a fast shutdown). */
  stopSignal: NodeJS.Signals;
  startTimeoutMs: number;
  /** Run as this user (postgres refuses to run as root). */
  uid?: number;
  gid?: number;
}

const STOP_TIMEOUT_MS = 10_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts a server and resolves once it is ready. It runs in a process group of its own so a
 * Ctrl-C in the terminal does not stop it under the gateway and worker still shutting
 * down: its owner stops it last. If this process exits without stopping it, it is signalled
 * on the way out.
 */
export async function startServerProcess(spec: ServerSpec): Promise<ServerProcess> {
  const log = openSync(spec.logFile, 'a');
  const child = spawn(spec.command, spec.args, { detached: true, stdio: ['ignore', log, log], uid: spec.uid, gid: spec.gid });
  closeSync(log);
  child.unref(); // the gateway keeps this process alive, not the server
  await once(child, 'spawn'); // rejects with the spawn error, e.g. ENOENT: not on PATH

  let exited = false;
  const exit = once(child, 'exit').then(() => void (exited = true));
  const signalOnExit = () => child.kill(spec.stopSignal);
  process.on('exit', signalOnExit);
  const kill = async (signal: NodeJS.Signals) => {
    process.off('exit', signalOnExit);
    if (exited) return;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exit;
    clearTimeout(timer);
  };

  const deadline = Date.now() + spec.startTimeoutMs;
  for (;;) {
    if (exited) throw new Error(`${spec.name} exited at start; the end of ${spec.logFile}:\n${tail(spec.logFile)}`);
    if (await spec.ready()) break;
    if (Date.now() > deadline) {
      await kill('SIGKILL');
      throw new Error(`${spec.name} did not accept connections within ${spec.startTimeoutMs / 1000} s; the end of ${spec.logFile}:\n${tail(spec.logFile)}`);
    }
    await sleep(100);
  }
  return { pid: child.pid!, stop: () => kill(spec.stopSignal) };
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').slice(-2_000);
  } catch {
    return '(no log)';
  }
}
