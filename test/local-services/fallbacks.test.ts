import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { describe, expect, it } from 'vitest';
import { ensureDatabase } from '../../src/db/ensure-database.js';
import { startLocalServices, type LocalServicesOptions } from '../../src/local-services/local-services.js';
import { postgresAnswers, redisAnswers } from '../../src/local-services/probes.js';
import { ownedTempDir } from '../support/owned-processes.js';
import { freePort } from '../support/redis-server.js';
import { databaseUrl, redisUrl } from '../support/services.js';

/** `quotagate start`'s choice of Redis and PostgreSQL (src/local-services), with real servers. */

/** Options where nothing answers on the "local" ports (just-freed loopback ports). */
async function nothingLocal(dataDir: string): Promise<LocalServicesOptions & { log: (line: string) => void; lines: string[] }> {
  const lines: string[] = [];
  const [closedRedis, closedPostgres, redisPort, postgresPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  return {
    localRedisUrl: `redis://127.0.0.1:${closedRedis}`,
    localDatabaseUrl: `postgres://postgres@127.0.0.1:${closedPostgres}/quotagate`,
    dataDir,
    redisPort,
    postgresPort,
    log: (line) => lines.push(line),
    lines,
  };
}

/** A data folder the embedded Postgres can reach when the tests run as root (it then runs as "postgres"). */
function dataDir(): string {
  const dir = ownedTempDir('qg-local-services-').path;
  chmodSync(dir, 0o755);
  return dir;
}

describe('local services for quotagate start', () => {
  it('starts redis-server and an embedded PostgreSQL in the data folder when nothing answers locally, and reuses them while they run', async () => {
    const options = await nothingLocal(dataDir());
    const services = await startLocalServices(options);
    try {
      expect(services.redis).toMatchObject({ source: 'embedded', url: `redis://127.0.0.1:${options.redisPort}` });
      expect(services.postgres).toMatchObject({ source: 'embedded', url: `postgres://postgres@127.0.0.1:${options.postgresPort}/quotagate` });
      expect(await redisAnswers(services.redis.url, 1_000)).toBe(true);
      expect(await ensureDatabase(services.postgres.url)).toBe(true);
      const client = new Client({ connectionString: services.postgres.url });
      await client.connect();
      expect((await client.query<{ db: string }>('SELECT current_database() AS db')).rows[0]!.db).toBe('quotagate');
      await client.end();
      // Data and logs live in the data folder.
      expect(existsSync(join(options.dataDir, 'postgres', 'PG_VERSION'))).toBe(true);
      expect(existsSync(join(options.dataDir, 'redis', 'appendonlydir'))).toBe(true);
      expect(existsSync(join(options.dataDir, 'postgres.log'))).toBe(true);

      // A second `start` (the first one killed without cleanup) finds them and uses them.
      const again = await startLocalServices(options);
      expect(again.redis).toMatchObject({ source: 'embedded', url: services.redis.url });
      expect(again.postgres).toMatchObject({ source: 'embedded', url: services.postgres.url });
      expect(options.lines.filter((l) => l.includes('still answers'))).toHaveLength(2);
    } finally {
      await Promise.all([services.redis.stop(), services.postgres.stop()]);
    }
    expect(await redisAnswers(services.redis.url, 500)).toBe(false);
    expect(await postgresAnswers(services.postgres.url, 500)).toBe(false);
  }, 120_000);

  it('uses the local services when they answer, starting nothing', async () => {
    const options = await nothingLocal(dataDir());
    const services = await startLocalServices({ ...options, localRedisUrl: redisUrl(), localDatabaseUrl: databaseUrl() });
    expect(services.redis).toMatchObject({ source: 'local', url: redisUrl() });
    expect(services.postgres).toMatchObject({ source: 'local', url: databaseUrl() });
    expect(existsSync(join(options.dataDir, 'redis'))).toBe(false);
    expect(existsSync(join(options.dataDir, 'postgres'))).toBe(false);
  });

  it('never falls back from an explicit REDIS_URL or DATABASE_URL that does not answer', async () => {
    const options = await nothingLocal(dataDir());
    const dead = `redis://127.0.0.1:${await freePort()}`;
    await expect(startLocalServices({ ...options, redisUrl: dead, databaseUrl: databaseUrl() })).rejects.toThrow(`REDIS_URL is set, but no Redis answers at ${dead}`);
    await expect(startLocalServices({ ...options, redisUrl: redisUrl(), databaseUrl: `postgres://postgres:secret@127.0.0.1:${await freePort()}/x` })).rejects.toThrow(
      /DATABASE_URL is set, but no PostgreSQL answers at postgres:\/\/postgres:\*\*\*@/,
    );
    expect(existsSync(join(options.dataDir, 'redis'))).toBe(false);
  });

  it('never falls back to a single Redis in cluster mode: REDIS_URL must name the cluster', async () => {
    const options = await nothingLocal(dataDir());
    await expect(startLocalServices({ ...options, redisCluster: true, localRedisUrl: redisUrl(), databaseUrl: databaseUrl() })).rejects.toThrow(
      'QG_REDIS_CLUSTER is true, but REDIS_URL is not set',
    );
    expect(existsSync(join(options.dataDir, 'redis'))).toBe(false);
  });

  it('says what to install when neither a local service nor the fallback works', async () => {
    const options = await nothingLocal(dataDir());
    await expect(startLocalServices({ ...options, localDatabaseUrl: databaseUrl(), redisServer: 'qg-no-such-redis-server' })).rejects.toThrow(
      /^No Redis: nothing answers at redis:\/\/127\.0\.0\.1:\d+ and the embedded fallback failed: qg-no-such-redis-server is not on PATH\nInstall Redis ≥ 7 \(Debian\/Ubuntu: apt-get install redis-server/,
    );
    // The data folder is a file: the embedded PostgreSQL cannot be set up there.
    const notADir = join(options.dataDir, 'file');
    writeFileSync(notADir, '');
    await expect(startLocalServices({ ...options, localRedisUrl: redisUrl(), dataDir: notADir })).rejects.toThrow(
      /^No PostgreSQL: nothing answers at postgres:[^]* the embedded fallback failed: ENOTDIR[^]*\nRun npm ci [^]*apt-get install postgresql/,
    );
  });

  it('stops the service it started when the other one fails', async () => {
    const options = await nothingLocal(dataDir());
    const failure = startLocalServices({ ...options, databaseUrl: `postgres://postgres@127.0.0.1:${await freePort()}/x` });
    await expect(failure).rejects.toThrow('DATABASE_URL is set');
    expect(await redisAnswers(`redis://127.0.0.1:${options.redisPort}`, 500)).toBe(false);
  });
});
