import { binaryPackage, embeddedPostgresUrl, startEmbeddedPostgres } from './embedded-postgres.js';
import { embeddedRedisUrl, startEmbeddedRedis } from './embedded-redis.js';
import { postgresAnswers, redisAnswers } from './probes.js';

/**
 * Where `quotagate start` finds Redis and PostgreSQL, first match wins:
 *   1. REDIS_URL / DATABASE_URL when set — it must answer: an explicit choice never falls back
 *      (nor does QG_REDIS_CLUSTER: a cluster is never replaced by a single local Redis);
 *   2. the local service on its default port;
 *   3. an embedded server in the project-local data folder (redis-server from PATH; PostgreSQL
 *      from an npm package), reused when one from an earlier run still answers on its port;
 *   4. otherwise an error that says what to install.
 */

export type ServiceSource = 'env' | 'local' | 'embedded';

export interface ChosenService {
  readonly url: string;
  readonly source: ServiceSource;
  /** Stops the embedded server this process started; a no-op for any other. */
  stop(): Promise<void>;
}

export const EMBEDDED_REDIS_PORT = 16379;
export const EMBEDDED_POSTGRES_PORT = 15432;

export interface LocalServicesOptions {
  /** REDIS_URL and DATABASE_URL as set in the environment; undefined or empty: unset. */
  redisUrl?: string;
  databaseUrl?: string;
  /** QG_REDIS_CLUSTER: Redis must be the cluster REDIS_URL names; nothing else will do. */
  redisCluster?: boolean;
  /** Tried when unset: the local services on their default ports. */
  localRedisUrl: string;
  localDatabaseUrl: string;
  /** The project-local folder the embedded servers keep their data and logs in. */
  dataDir: string;
  redisPort?: number;
  postgresPort?: number;
  /** The Redis server command; default `redis-server` (from PATH). */
  redisServer?: string;
  log: (line: string) => void;
}

interface ServiceSpec {
  name: string;
  envVar: string;
  configured: string | undefined;
  /** Set when only `configured` may be used: why, as the error to give when it is unset. */
  onlyConfigured?: string;
  localUrl: string;
  embeddedUrl: string;
  answers(url: string, timeoutMs: number): Promise<boolean>;
  startEmbedded(): Promise<{ stop(): Promise<void> }>;
  /** What to install when nothing answers and the embedded server cannot start. */
  installHint: string;
}

const nothingToStop = async () => {};

async function chooseService(spec: ServiceSpec, log: (line: string) => void): Promise<ChosenService> {
  if (spec.configured) {
    if (await spec.answers(spec.configured, 5_000)) return { url: spec.configured, source: 'env', stop: nothingToStop };
    throw new Error(`${spec.envVar} is set, but no ${spec.name} answers at ${redactPassword(spec.configured)}`);
  }
  if (spec.onlyConfigured) throw new Error(spec.onlyConfigured);
  if (await spec.answers(spec.localUrl, 1_000)) return { url: spec.localUrl, source: 'local', stop: nothingToStop };
  if (await spec.answers(spec.embeddedUrl, 1_000)) {
    log(`${spec.name}: the embedded server of an earlier run still answers at ${spec.embeddedUrl}; using it`);
    return { url: spec.embeddedUrl, source: 'embedded', stop: nothingToStop };
  }
  log(`${spec.name}: nothing answers at ${redactPassword(spec.localUrl)}; starting an embedded server at ${spec.embeddedUrl}`);
  try {
    const server = await spec.startEmbedded();
    return { url: spec.embeddedUrl, source: 'embedded', stop: () => server.stop() };
  } catch (err) {
    throw new Error(`No ${spec.name}: nothing answers at ${redactPassword(spec.localUrl)} and the embedded fallback failed: ${(err as Error).message}\n${spec.installHint}`, {
      cause: err,
    });
  }
}

/** Redis and PostgreSQL for `quotagate start`; when either fails, the other is stopped again. */
export async function startLocalServices(options: LocalServicesOptions): Promise<{ redis: ChosenService; postgres: ChosenService }> {
  const redisPort = options.redisPort ?? EMBEDDED_REDIS_PORT;
  const postgresPort = options.postgresPort ?? EMBEDDED_POSTGRES_PORT;
  const database = decodeURIComponent(new URL(options.localDatabaseUrl).pathname.slice(1)) || 'postgres';
  const redisCommand = options.redisServer ?? 'redis-server';
  const settled = await Promise.allSettled([
    chooseService(
      {
        name: 'Redis',
        envVar: 'REDIS_URL',
        configured: options.redisUrl,
        onlyConfigured: options.redisCluster ? 'QG_REDIS_CLUSTER is true, but REDIS_URL is not set: set it to a node of the Redis Cluster' : undefined,
        localUrl: options.localRedisUrl,
        embeddedUrl: embeddedRedisUrl(redisPort),
        answers: redisAnswers,
        startEmbedded: () =>
          startEmbeddedRedis({ dataDir: options.dataDir, port: redisPort, command: redisCommand }).catch((err: NodeJS.ErrnoException) => {
            throw err.code === 'ENOENT' ? new Error(`${redisCommand} is not on PATH`) : err;
          }),
        installHint:
          'Install Redis ≥ 7 (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) so that redis-server is on PATH, or set REDIS_URL to a running Redis.',
      },
      options.log,
    ),
    chooseService(
      {
        name: 'PostgreSQL',
        envVar: 'DATABASE_URL',
        configured: options.databaseUrl,
        localUrl: options.localDatabaseUrl,
        embeddedUrl: embeddedPostgresUrl(postgresPort, database),
        answers: postgresAnswers,
        startEmbedded: () => startEmbeddedPostgres({ dataDir: options.dataDir, port: postgresPort }),
        installHint: `Run npm ci (it installs ${binaryPackage()}, the embedded server), or install PostgreSQL ≥ 13 listening on 127.0.0.1:5432 with a "postgres" user that needs no password (Debian/Ubuntu: apt-get install postgresql), or set DATABASE_URL to a running PostgreSQL.`,
      },
      options.log,
    ),
  ]);
  const [redis, postgres] = settled;
  if (redis.status === 'fulfilled' && postgres.status === 'fulfilled') return { redis: redis.value, postgres: postgres.value };
  await Promise.all(settled.map((s) => (s.status === 'fulfilled' ? s.value.stop() : undefined)));
  const reasons = settled.flatMap((s) => (s.status === 'rejected' ? [(s.reason as Error).message] : []));
  throw new Error(reasons.join('\n\n'));
}

export function redactPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable URL)';
  }
}
