import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { redisAnswers } from './probes.js';
import { startServerProcess, type ServerProcess } from './server-process.js';

export interface EmbeddedRedisOptions {
  /** The project-local data folder; the server keeps its files in `<dataDir>/redis`. */
  dataDir: string;
  port: number;
  /** Default: `redis-server` from PATH. */
  command?: string;
}

export const embeddedRedisUrl = (port: number) => `redis://127.0.0.1:${port}`;

/**
 * A `redis-server` from PATH on loopback, persisting like the compose file's Redis (AOF,
 * fsync every second): a restart keeps the counters, and the gateway rebuilds anything
 * missing from the ledger anyway.
 */
export async function startEmbeddedRedis(options: EmbeddedRedisOptions): Promise<ServerProcess> {
  const dir = join(options.dataDir, 'redis');
  mkdirSync(dir, { recursive: true });
  const url = embeddedRedisUrl(options.port);
  return startServerProcess({
    name: 'redis-server',
    command: options.command ?? 'redis-server',
    args: ['--port', String(options.port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '', '--daemonize', 'no'],
    logFile: join(options.dataDir, 'redis.log'),
    ready: () => redisAnswers(url, 500),
    stopSignal: 'SIGTERM',
    startTimeoutMs: 10_000,
  });
}
