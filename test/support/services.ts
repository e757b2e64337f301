import { randomBytes } from 'node:crypto';
import { Redis, type Cluster, type RedisOptions } from 'ioredis';
import type { Pool } from 'pg';
import { inject } from 'vitest';
import { createPool, type PoolOptions } from '../../src/db/pool.js';
import { createDatabase, dropDatabase, newDatabaseName } from './databases.js';
import { unlinkByPrefix } from './redis-keys.js';
import './provided-context.js';

/**
 * What tests use to reach the real services found by global-setup.ts. The Redis and the
 * database are shared by every test file of the run (files run in parallel): isolate Redis
 * keys with uniquePrefix() and Postgres rows with unique ids; never flush or truncate.
 */

export const redisUrl = (): string => inject('redisUrl');
/** This run's migrated database. */
export const databaseUrl = (): string => inject('databaseUrl');
export const adminDatabaseUrl = (): string => inject('adminDatabaseUrl');
export const serviceSources = () => inject('serviceSources');

let prefixes = 0;

/**
 * A Redis key prefix no other test, file or run uses: `<run base>-<label>-<n><random>`.
 * The label loses every character that is not [A-Za-z0-9_] so that no prefix is the start
 * of another (cleanupPrefix relies on that). The result also passes QG_KEY_PREFIX validation.
 */
export function uniquePrefix(label = 't'): string {
  const clean = label.replace(/[^A-Za-z0-9_]/g, '').slice(0, 24) || 't';
  const unique = `${(++prefixes).toString(36)}${randomBytes(4).toString('hex')}`;
  return `${inject('keyPrefixBase')}-${clean}-${unique}`;
}

/** A client of the shared Redis. The caller quits it. */
export function createTestRedis(options: RedisOptions = {}): Redis {
  return new Redis(redisUrl(), options);
}

/**
 * Deletes the keys under `prefix` (SCAN + UNLINK, also across a Cluster's masters). Only
 * prefixes of this run are accepted, so a typo can never delete someone else's keys.
 */
export async function cleanupPrefix(redis: Redis | Cluster, prefix: string): Promise<number> {
  const base = inject('keyPrefixBase');
  if (!prefix.startsWith(`${base}-`)) {
    throw new Error(`cleanupPrefix: "${prefix}" is not a prefix of this run (from uniquePrefix(), starting "${base}-")`);
  }
  return unlinkByPrefix(redis, prefix);
}

/** A small pool on this run's database. The caller ends it. */
export function createTestPool(options: PoolOptions = {}): Pool {
  return createPool(databaseUrl(), { max: 4, applicationName: 'quotagate-tests', ...options });
}

/**
 * An empty database of the caller's own (not migrated), for tests of migrations or
 * anything that must not share a schema. `drop()` removes it, even with open connections.
 */
export async function createScratchDatabase(): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const admin = adminDatabaseUrl();
  const name = newDatabaseName();
  const url = await createDatabase(admin, name);
  return { url, name, drop: () => dropDatabase(admin, name) };
}
