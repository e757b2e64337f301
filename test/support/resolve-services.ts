import { redactPassword } from '../../src/local-services/local-services.js';
import { postgresAnswers, redisAnswers } from '../../src/local-services/probes.js';
import type { ServiceSource } from './provided-context.js';
import { assertRedisServerOnPath, startPrivateRedis } from './redis-server.js';

/**
 * Finds a real Redis and PostgreSQL for the test run, first match wins:
 *   1. REDIS_URL / DATABASE_URL when set (must answer: an explicit choice never silently falls back);
 *   2. the local services on their default ports, if they answer within a second;
 *   3. testcontainers, when a Docker engine answers;
 *   4. Redis only: a `redis-server` from PATH on a free port. Postgres has no such step
 *      (initdb per run is slow and distro-specific), so it fails saying what to install.
 * QG_TEST_SKIP_LOCAL=1 skips step 2, to exercise the later steps on a machine that has both.
 */

export const LOCAL_REDIS_URL = 'redis://127.0.0.1:6379';
export const LOCAL_POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

export interface ResolvedService {
  url: string;
  source: ServiceSource;
  /** Set when the run started the service itself and must stop it. */
  stop?: () => Promise<void>;
}

type Log = (line: string) => void;

const skipLocal = () => process.env.QG_TEST_SKIP_LOCAL === '1';
const fromEnv = (name: string) => {
  const value = process.env[name];
  return value === undefined || value === '' ? undefined : value;
};

// ---- testcontainers (loaded only when needed: it is slow to import) -------------------

type Testcontainers = typeof import('testcontainers');
let containers: Promise<Testcontainers | undefined> | undefined;

/** testcontainers, if it loads and a container engine answers; else undefined, saying why. */
function loadContainers(log: Log): Promise<Testcontainers | undefined> {
  containers ??= (async () => {
    let tc: Testcontainers;
    try {
      tc = await import('testcontainers');
    } catch (err) {
      // E.g. testcontainers 12 on Node 20: it needs Node ≥ 22.22 and its undici fails to load.
      log(`testcontainers does not load on Node ${process.version}: ${(err as Error).message}`);
      return undefined;
    }
    try {
      await withTimeout(tc.getContainerRuntimeClient(), 10_000, 'no container engine answered within 10 s');
      return tc;
    } catch (err) {
      log(`no container engine: ${(err as Error).message.split('\n')[0]}`);
      return undefined;
    }
  })();
  return containers;
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// ---- Redis ---------------------------------------------------------------------------

export async function resolveRedis(log: Log): Promise<ResolvedService> {
  const envUrl = fromEnv('REDIS_URL');
  if (envUrl) {
    if (!(await redisAnswers(envUrl, 5_000))) throw new Error(`REDIS_URL is set but Redis at ${envUrl} does not answer PING`);
    return { url: envUrl, source: 'env' };
  }
  if (!skipLocal() && (await redisAnswers(LOCAL_REDIS_URL, 1_000))) return { url: LOCAL_REDIS_URL, source: 'local' };

  const tc = await loadContainers(log);
  if (tc) {
    const { RedisContainer } = await import('@testcontainers/redis');
    const container = await new RedisContainer('redis:7-alpine').start();
    return { url: container.getConnectionUrl(), source: 'container', stop: async () => void (await container.stop()) };
  }

  try {
    assertRedisServerOnPath();
  } catch (err) {
    throw new Error(`No Redis for the tests: set REDIS_URL, run Redis on 127.0.0.1:6379, start a Docker engine, or ${(err as Error).message}`, { cause: err });
  }
  const server = await startPrivateRedis();
  return { url: server.url, source: 'spawned', stop: () => server.dispose() };
}

// ---- PostgreSQL ----------------------------------------------------------------------

export async function resolvePostgres(log: Log): Promise<ResolvedService> {
  const envUrl = fromEnv('DATABASE_URL');
  if (envUrl) {
    if (!(await postgresAnswers(envUrl, 5_000))) throw new Error(`DATABASE_URL is set but PostgreSQL at ${redactPassword(envUrl)} does not answer`);
    return { url: envUrl, source: 'env' };
  }
  if (!skipLocal() && (await postgresAnswers(LOCAL_POSTGRES_URL, 1_000))) return { url: LOCAL_POSTGRES_URL, source: 'local' };

  const tc = await loadContainers(log);
  if (tc) {
    const container = await new tc.GenericContainer('postgres:16-alpine')
      .withEnvironment({ POSTGRES_HOST_AUTH_METHOD: 'trust' })
      .withExposedPorts(5432)
      // The entrypoint starts a temporary server for init scripts first: wait for the second "ready".
      .withWaitStrategy(tc.Wait.forLogMessage(/database system is ready to accept connections/, 2))
      .start();
    const url = `postgres://postgres@${container.getHost()}:${container.getMappedPort(5432)}/postgres`;
    return { url, source: 'container', stop: async () => void (await container.stop()) };
  }

  throw new Error(
    [
      'No PostgreSQL for the tests. Do one of:',
      '  - set DATABASE_URL to a PostgreSQL ≥ 13 server where that user may CREATE DATABASE',
      '    (e.g. postgres://postgres@127.0.0.1:5432/postgres); each run creates and drops its own database there;',
      `  - install PostgreSQL ≥ 13 listening on 127.0.0.1:5432 with a "postgres" user that needs no password`,
      '    (Debian/Ubuntu: apt-get install postgresql, then trust auth for 127.0.0.1 in pg_hba.conf);',
      '  - start a Docker engine (testcontainers then runs postgres:16-alpine).',
    ].join('\n'),
  );
}
