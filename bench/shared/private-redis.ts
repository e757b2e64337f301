import { startPrivateRedis } from '../../test/support/redis-server.js';

/**
 * The Redis a benchmark runs against: `BENCH_REDIS_URL` when set, else a private
 * `redis-server` (from PATH, the tests' own helper) on a free loopback port, without
 * persistence, so the shared Redis is neither disturbed nor allowed to disturb the figures.
 * A private server dies with the benchmark, whatever ends it.
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

export async function benchRedis(env: NodeJS.ProcessEnv = process.env): Promise<BenchRedis> {
  const url = env.BENCH_REDIS_URL;
  if (!url) {
    const server = await startPrivateRedis();
    return {
      url: server.url,
      cliArgs: ['-h', server.host, '-p', String(server.port)],
      owned: true,
      describe: `private redis-server on ${server.host}:${server.port} (no persistence)`,
      stop: () => server.dispose(),
    };
  }
  const u = new URL(url);
  const cliArgs = ['-h', u.hostname || '127.0.0.1', '-p', u.port || '6379'];
  if (u.password) cliArgs.push('-a', decodeURIComponent(u.password));
  if (u.username) cliArgs.push('--user', decodeURIComponent(u.username));
  const db = u.pathname.replace(/^\//, '');
  if (db) cliArgs.push('--dbnum', db);
  return { url, cliArgs, owned: false, describe: `BENCH_REDIS_URL (${u.hostname}:${u.port || 6379}, shared)`, stop: async () => {} };
}
