import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The Redis a benchmark runs against: `BENCH_REDIS_URL` when set, else a private
 * `redis-server` (from PATH) on a free loopback port, without persistence, in a temp dir,
 * so the shared Redis is neither disturbed nor allowed to disturb the figures.
 *
 * A private server dies with the benchmark: `stop()`, a synchronous kill on process exit,
 * and (Linux, `setpriv --pdeathsig`) the kernel when the benchmark process dies.
 */
export interface BenchRedis {
  url: string;
  /** `redis-benchmark` / `redis-cli` connection arguments for the same server. */
  cliArgs: string[];
  /** True when this process started the server (so it may be used exclusively). */
  owned: boolean;
  describe: string;
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';

export async function benchRedis(env: NodeJS.ProcessEnv = process.env): Promise<BenchRedis> {
  const url = env.BENCH_REDIS_URL;
  if (!url) return startPrivateRedis();
  const u = new URL(url);
  const cliArgs = ['-h', u.hostname || HOST, '-p', u.port || '6379'];
  if (u.password) cliArgs.push('-a', decodeURIComponent(u.password));
  if (u.username) cliArgs.push('--user', decodeURIComponent(u.username));
  const db = u.pathname.replace(/^\//, '');
  if (db) cliArgs.push('--dbnum', db);
  return { url, cliArgs, owned: false, describe: `BENCH_REDIS_URL (${u.hostname}:${u.port || 6379}, shared)`, stop: async () => {} };
}

const live = new Set<ChildProcess>();
const dirs = new Set<string>();
let exitHook = false;

function installExitHook(): void {
  if (exitHook) return;
  exitHook = true;
  // 'exit' handlers run synchronously: kill and delete without waiting.
  process.on('exit', () => {
    for (const child of live) child.kill('SIGKILL');
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      server.close(() => (address && typeof address === 'object' ? resolve(address.port) : reject(new Error('no free port'))));
    });
  });
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port });
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

const exited = (child: ChildProcess) =>
  child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => child.once('exit', () => r()));

async function spawnServer(port: number, dir: string): Promise<ChildProcess> {
  const args = ['--port', String(port), '--bind', HOST, '--dir', dir, '--save', '', '--appendonly', 'no',
    '--daemonize', 'no', '--protected-mode', 'no', '--loglevel', 'warning'];
  const pdeathsig = spawnSync('setpriv', ['--pdeathsig', 'SIGKILL', 'true'], { stdio: 'ignore' }).status === 0;
  // setpriv execs redis-server, so child.pid is the server's own pid.
  const child = pdeathsig
    ? spawn('setpriv', ['--pdeathsig', 'SIGKILL', 'redis-server', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  child.once('exit', () => live.delete(child));
  let output = '';
  const collect = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-2_000));
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`redis-server on port ${port} exited at start:\n${output}`);
    if (await ping(port)) return child;
    await new Promise((r) => setTimeout(r, 25));
  }
  child.kill('SIGKILL');
  await exited(child);
  throw new Error(`redis-server on port ${port} did not answer PING within 10 s:\n${output}`);
}

export async function startPrivateRedis(): Promise<BenchRedis> {
  const probe = spawnSync('redis-server', ['--version'], { stdio: 'ignore' });
  if (probe.error || probe.status !== 0) {
    throw new Error('redis-server is not on PATH: install Redis ≥ 7 (Debian/Ubuntu: apt-get install redis-server), or set BENCH_REDIS_URL');
  }
  installExitHook();
  const dir = mkdtempSync(join(tmpdir(), 'qg-bench-redis-'));
  dirs.add(dir);
  let child: ChildProcess | undefined;
  let port = 0;
  // The OS-picked port may be taken between probe and bind: try a few.
  for (let attempt = 1; !child; attempt++) {
    port = await freePort();
    try {
      child = await spawnServer(port, dir);
    } catch (err) {
      if (attempt >= 3) {
        rmSync(dir, { recursive: true, force: true });
        dirs.delete(dir);
        throw err;
      }
    }
  }
  const server = child;
  let stopped = false;
  return {
    url: `redis://${HOST}:${port}`,
    cliArgs: ['-h', HOST, '-p', String(port)],
    owned: true,
    describe: `private redis-server on ${HOST}:${port} (no persistence)`,
    async stop() {
      if (stopped) return;
      stopped = true;
      server.kill('SIGTERM');
      const timer = setTimeout(() => server.kill('SIGKILL'), 5_000);
      await exited(server);
      clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
      dirs.delete(dir);
    },
  };
}
