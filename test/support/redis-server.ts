import { spawnSync, execFile, type ChildProcess } from 'node:child_process';
import { createServer, connect, type Socket } from 'node:net';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { ownedTempDir, realClockEnv, spawnOwned } from './owned-processes.js';

/**
 * Redis servers owned by one test: for tests that stop, crash, restart or FLUSHALL Redis,
 * which they must never do to the shared one. Each runs from `redis-server` on PATH, on a
 * free loopback port, without persistence, in its own temp dir.
 *
 * They die with the test process whatever happens: killed on process exit, and (on Linux,
 * via `setpriv --pdeathsig`) by the kernel when the process that started them dies, even by
 * SIGKILL.
 */

const HOST = '127.0.0.1';

export interface PrivateRedis {
  readonly host: string;
  readonly port: number;
  readonly url: string;
  /** The server's working directory (nodes.conf of a cluster node lives there). */
  readonly dir: string;
  /** pid of the running server; undefined while stopped. */
  readonly pid: number | undefined;
  /** Graceful shutdown (SIGTERM); nothing is saved. `restart()` brings it back. */
  stop(): Promise<void>;
  /** Crash: SIGKILL, no shutdown at all. `restart()` brings it back. */
  kill9(): Promise<void>;
  /** Stops the server if it runs, then starts it again on the same port: empty, like a restart without persistence. */
  restart(): Promise<void>;
  /** Stops it for good and removes its temp dir. Idempotent. */
  dispose(): Promise<void>;
}

export interface PrivateRedisOptions {
  /** Extra `redis-server` arguments, e.g. `['--maxmemory', '1mb']`. */
  args?: string[];
  /** Default: a free port picked by the OS. */
  port?: number;
  /** How long to wait for PING to answer after a start. Default 10 s. */
  startTimeoutMs?: number;
}

let redisServerChecked = false;
/** Throws a message that says what to install when `redis-server` is missing. */
export function assertRedisServerOnPath(): void {
  if (redisServerChecked) return;
  const probe = spawnSync('redis-server', ['--version'], { stdio: 'ignore', env: realClockEnv() });
  if (probe.error || probe.status !== 0) {
    throw new Error('redis-server is not on PATH: install Redis ≥ 7 (Debian/Ubuntu: apt-get install redis-server)');
  }
  redisServerChecked = true;
}

// ---- ports ---------------------------------------------------------------------------

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, HOST, () => server.close(() => resolve(true)));
  });
}

/** A port the OS considers free right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      server.close(() => (address && typeof address === 'object' ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * A free port whose cluster bus port (port + 10000) is free as well. Drawn from
 * 20000–45535 because a cluster node's port must leave room for its bus port below 65536.
 */
async function freeClusterPort(taken: Set<number>): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 25_535);
    if (taken.has(port) || taken.has(port + 10_000)) continue;
    if ((await canListen(port)) && (await canListen(port + 10_000))) return port;
  }
  throw new Error('no free port pair for a Redis Cluster node');
}

// ---- one server ----------------------------------------------------------------------

/** True when a raw PING on host:port answers +PONG within `timeoutMs`. */
function pingOnce(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port });
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

function waitForExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function spawnServer(port: number, dir: string, args: readonly string[], startTimeoutMs: number): Promise<ChildProcess> {
  const serverArgs = [
    '--port',
    String(port),
    '--bind',
    HOST,
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    'no',
    '--daemonize',
    'no',
    '--protected-mode',
    'no',
    '--loglevel',
    'warning',
    ...args,
  ];
  const child = spawnOwned('redis-server', serverArgs, { stdio: ['ignore', 'pipe', 'pipe'], env: realClockEnv() });
  // Never keep the test process alive for a forgotten server: the exit hook kills it.
  child.unref();
  (child.stdout as Socket | null)?.unref();
  (child.stderr as Socket | null)?.unref();
  let output = '';
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4_000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);

  const deadline = Date.now() + startTimeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`redis-server on port ${port} exited at start (${child.exitCode ?? child.signalCode}):\n${output}`);
    }
    if (await pingOnce(port, 500)) return child;
    await sleep(25);
  }
  child.kill('SIGKILL');
  await waitForExit(child);
  throw new Error(`redis-server on port ${port} did not answer PING within ${startTimeoutMs} ms:\n${output}`);
}

/** Starts a private `redis-server`; see PrivateRedis. */
export async function startPrivateRedis(opts: PrivateRedisOptions = {}): Promise<PrivateRedis> {
  assertRedisServerOnPath();
  const args = opts.args ?? [];
  const startTimeoutMs = opts.startTimeoutMs ?? 10_000;
  const tempDir = ownedTempDir('qg-redis-');
  const dir = tempDir.path;

  // The OS-picked port may be taken between probe and bind; try a few.
  let port = opts.port ?? 0;
  let child: ChildProcess | undefined;
  for (let attempt = 1; !child; attempt++) {
    const candidate = opts.port ?? (await freePort());
    try {
      child = await spawnServer(candidate, dir, args, startTimeoutMs);
      port = candidate;
    } catch (err) {
      if (opts.port !== undefined || attempt >= 3) {
        tempDir.remove();
        throw err;
      }
    }
  }

  let current: ChildProcess | undefined = child;
  let disposed = false;
  const halt = async (signal: NodeJS.Signals) => {
    const running = current;
    current = undefined;
    if (!running) return;
    running.ref(); // keep the process alive until it has exited
    running.kill(signal);
    const exited = waitForExit(running);
    // A server stuck in shutdown must not hang the test.
    const timer = setTimeout(() => running.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };

  return {
    host: HOST,
    port,
    url: `redis://${HOST}:${port}`,
    dir,
    get pid() {
      return current?.pid;
    },
    stop: () => halt('SIGTERM'),
    kill9: () => halt('SIGKILL'),
    async restart() {
      if (disposed) throw new Error('this private Redis was disposed');
      await halt('SIGTERM');
      current = await spawnServer(port, dir, args, startTimeoutMs);
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      await halt('SIGKILL');
      tempDir.remove();
    },
  };
}

// ---- a cluster -----------------------------------------------------------------------

export interface PrivateRedisCluster {
  /** Every node: master `i` is `servers[i]`. */
  readonly servers: readonly PrivateRedis[];
  /** For `new Cluster(startupNodes)`. */
  readonly startupNodes: ReadonlyArray<{ host: string; port: number }>;
  /** Stops every node and removes their temp dirs. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts `masters` cluster-enabled servers and joins them into one cluster with
 * `redis-cli --cluster create` (slots split evenly, no replicas); resolves once every node
 * reports cluster_state:ok.
 */
export async function startPrivateRedisCluster(masters = 3, opts: { startTimeoutMs?: number } = {}): Promise<PrivateRedisCluster> {
  if (masters < 3) throw new RangeError('redis-cli --cluster create needs at least 3 masters');
  const taken = new Set<number>();
  const servers: PrivateRedis[] = [];
  const stop = async () => {
    await Promise.all(servers.map((s) => s.dispose()));
  };
  try {
    for (let i = 0; i < masters; i++) {
      const port = await freeClusterPort(taken);
      taken.add(port).add(port + 10_000);
      servers.push(
        await startPrivateRedis({
          port,
          startTimeoutMs: opts.startTimeoutMs,
          args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '5000'],
        }),
      );
    }
    const addresses = servers.map((s) => `${s.host}:${s.port}`);
    await promisify(execFile)('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'], {
      timeout: 60_000,
      env: realClockEnv(),
    }).catch((err: NodeJS.ErrnoException & { stdout?: string; stderr?: string }) => {
      const hint = err.code === 'ENOENT' ? ' (redis-cli is not on PATH: install the Redis tools)' : '';
      throw new Error(`redis-cli --cluster create failed${hint}: ${err.message}\n${err.stdout ?? ''}${err.stderr ?? ''}`);
    });
    await waitForClusterOk(servers, masters, opts.startTimeoutMs ?? 30_000);
  } catch (err) {
    await stop();
    throw err;
  }
  return { servers, startupNodes: servers.map((s) => ({ host: s.host, port: s.port })), stop };
}

/** `--cluster create` returns once slots are assigned; gossip may still be converging. */
async function waitForClusterOk(servers: readonly PrivateRedis[], masters: number, timeoutMs: number): Promise<void> {
  const clients = servers.map((s) => new Redis({ host: s.host, port: s.port, lazyConnect: true, maxRetriesPerRequest: 1 }));
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const infos = await Promise.all(clients.map((c) => c.cluster('INFO')));
      const ready = infos.every((info) => /cluster_state:ok/.test(info) && new RegExp(`cluster_known_nodes:${masters}\\b`).test(info));
      if (ready) return;
      if (Date.now() > deadline) throw new Error(`cluster did not reach cluster_state:ok:\n${infos.join('\n---\n')}`);
      await sleep(100);
    }
  } finally {
    clients.forEach((c) => c.disconnect());
  }
}
