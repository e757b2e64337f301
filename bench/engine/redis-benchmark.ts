import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

export interface RedisBenchmarkRun {
  /** Connection arguments (`-h … -p …`). */
  cliArgs: string[];
  requests: number;
  clients: number;
  pipeline: number;
  /** `-r`: each `__rand_int__` becomes a 12-digit number below this (each occurrence drawn on its own). */
  keyspace: number;
  /** The command and its arguments, e.g. `['EVALSHA', sha, '2', …]`. */
  command: string[];
}

/** The command line, for the record (arguments with spaces or quotes are single-quoted). */
export function redisBenchmarkCommandLine(run: RedisBenchmarkRun, argLimit = 60): string {
  const quote = (a: string) => (/^[A-Za-z0-9_@%+=:,./{}|-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  const shown = (a: string) => (a.length > argLimit ? `${a.slice(0, argLimit)}…` : a);
  return ['redis-benchmark', ...args(run)].map((a) => quote(shown(a))).join(' ');
}

function args(run: RedisBenchmarkRun): string[] {
  return [...run.cliArgs, '-n', String(run.requests), '-c', String(run.clients), '-P', String(run.pipeline), '-r', String(run.keyspace), '--csv', ...run.command];
}

/** Runs `redis-benchmark` and returns its requests per second. */
export async function runRedisBenchmark(run: RedisBenchmarkRun): Promise<number> {
  let stdout: string;
  try {
    ({ stdout } = await promisify(execFile)('redis-benchmark', args(run), { maxBuffer: 16 << 20, timeout: 300_000 }));
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    const hint = e.code === 'ENOENT' ? ' (redis-benchmark is not on PATH: install the Redis tools)' : '';
    throw new Error(`redis-benchmark failed${hint}: ${e.message}\n${e.stderr ?? ''}`, { cause: err });
  }
  // --csv: a header, then "<title>","<rps>","<avg ms>",…,"<max ms>". The title repeats the
  // command and may hold commas and quotes, so the rps is counted from the right (7 fields).
  const line = stdout
    .trim()
    .split('\n')
    .filter((l) => /"[0-9.]+"\s*$/.test(l))
    .pop();
  const fields = line?.split(',');
  const rps = fields && fields.length >= 8 ? Number(fields[fields.length - 7]!.replace(/"/g, '')) : NaN;
  if (!Number.isFinite(rps) || rps <= 0) throw new Error(`could not read requests per second from redis-benchmark:\n${stdout.slice(-2_000)}`);
  return rps;
}
