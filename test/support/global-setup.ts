import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { TestProject } from 'vitest/node';
import { migrate } from '../../src/db/migrate.js';
import { createDatabase, dropDatabase, newDatabaseName, sweepStaleDatabases } from './databases.js';
import { redactPassword } from '../../src/local-services/local-services.js';
import { resolvePostgres, resolveRedis, type ResolvedService } from './resolve-services.js';
import { unlinkByPrefix } from './redis-keys.js';
import './provided-context.js';

/**
 * Runs once per `vitest` run, before any test file: finds Redis and Postgres
 * (resolve-services.ts), creates and migrates this run's own database and picks this run's
 * Redis key prefix. The teardown it returns drops the database, deletes the run's keys
 * from a shared Redis, and stops whatever the run started.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const log = (line: string) => process.stderr.write(`[test services] ${line}\n`);
  const started: ResolvedService[] = [];
  const stopStarted = () => Promise.allSettled(started.map((s) => s.stop?.()));

  let databaseName: string | undefined;
  let postgres: ResolvedService | undefined;
  try {
    // allSettled: when one service is missing, the other may already run and must be stopped.
    const settled = await Promise.allSettled([resolveRedis(log), resolvePostgres(log)]);
    for (const s of settled) if (s.status === 'fulfilled') started.push(s.value);
    const [redisResult, pgResult] = settled;
    if (redisResult.status === 'rejected') throw redisResult.reason;
    if (pgResult.status === 'rejected') throw pgResult.reason;
    const redis = redisResult.value;
    const pg = (postgres = pgResult.value);

    const swept = await sweepStaleDatabases(pg.url);
    if (swept.length > 0) log(`dropped ${swept.length} stale test database(s) from killed runs`);
    const name = (databaseName = newDatabaseName());
    const databaseUrl = await createDatabase(pg.url, name);
    await migrate(databaseUrl);

    const keyPrefixBase = `qgt${randomBytes(4).toString('hex')}`;
    log(`redis=${redis.source} ${redactPassword(redis.url)}, postgres=${pg.source} ${redactPassword(pg.url)}, ` + `database=${name}, key prefix=${keyPrefixBase}`);
    project.provide('redisUrl', redis.url);
    project.provide('databaseUrl', databaseUrl);
    project.provide('adminDatabaseUrl', pg.url);
    project.provide('keyPrefixBase', keyPrefixBase);
    project.provide('serviceSources', { redis: redis.source, postgres: pg.source });

    return async () => {
      const results = await Promise.allSettled([
        dropDatabase(pg.url, name),
        // A service we started is about to stop; only a shared one needs its keys removed.
        redis.stop ? Promise.resolve() : deleteRunKeys(redis.url, keyPrefixBase),
      ]);
      await stopStarted();
      for (const r of results) if (r.status === 'rejected') log(`teardown: ${String(r.reason)}`);
    };
  } catch (err) {
    if (postgres && databaseName) await dropDatabase(postgres.url, databaseName).catch(() => {});
    await stopStarted();
    throw err;
  }
}

async function deleteRunKeys(url: string, keyPrefixBase: string): Promise<void> {
  const redis = new Redis(url, { maxRetriesPerRequest: 2 });
  try {
    await unlinkByPrefix(redis, keyPrefixBase);
  } finally {
    redis.disconnect();
  }
}
