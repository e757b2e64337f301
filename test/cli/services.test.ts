import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import { Client } from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { databaseUrlFor, dropDatabase, newDatabaseName } from '../support/databases.js';
import { runCli, spawnCli, waitForLine } from '../support/cli.js';
import { adminDatabaseUrl, databaseUrl, redisUrl, uniquePrefix } from '../support/services.js';

/** The deployment's process commands, exactly as docker-compose runs them. */

describe('quotagate migrate', () => {
  const name = newDatabaseName();
  afterAll(() => dropDatabase(adminDatabaseUrl(), name));

  it('creates a missing database, applies every migration, and has nothing to do the second time', async () => {
    const url = databaseUrlFor(adminDatabaseUrl(), name);
    const migrations = readdirSync('migrations')
      .filter((f) => /^\d+_.*\.sql$/.test(f))
      .map((f) => f.replace(/\.(up\.)?sql$/, ''));
    const first = await runCli(['migrate'], { DATABASE_URL: url });
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toBe(`created the database\napplied ${migrations.length} migration(s): ${migrations.join(', ')}\n`);

    const client = new Client({ connectionString: url });
    await client.connect();
    const { rows } = await client.query<{ name: string }>('SELECT name FROM pgmigrations ORDER BY id');
    await client.end();
    expect(rows.map((r) => r.name)).toEqual(migrations);

    const second = await runCli(['migrate'], { DATABASE_URL: url });
    expect(second).toMatchObject({ code: 0, stdout: 'no pending migrations\n' });
  });

  it('exits 1 saying why when Postgres does not answer', async () => {
    const r = await runCli(['migrate'], { DATABASE_URL: 'postgres://postgres@127.0.0.1:9/nowhere' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('ECONNREFUSED');
  });
});

describe('quotagate gateway', () => {
  it('serves on HOST:PORT and exits 0 on SIGTERM', async () => {
    const child = spawnCli(['gateway'], {
      REDIS_URL: redisUrl(),
      DATABASE_URL: databaseUrl(),
      QG_KEY_PREFIX: uniquePrefix('cli'),
      PORT: '0',
      LOG_LEVEL: 'info',
      POLICY_FILE: 'test/fixtures/policy/valid.json',
    });
    const [, url] = await waitForLine(child, /"url":"(http:\/\/127\.0\.0\.1:\d+)"[^\n]*gateway listening/);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    child.kill('SIGTERM');
    expect(await once(child, 'exit')).toEqual([0, null]);
  });
});

describe('quotagate demo-upstream', () => {
  it('prints its URL, answers, and exits 0 on SIGTERM', async () => {
    const child = spawnCli(['demo-upstream', '--port', '0']);
    const [url] = await waitForLine(child, /http:\/\/127\.0\.0\.1:\d+/);
    expect((await fetch(`${url}/v1/projects`)).status).toBe(200);
    child.kill('SIGTERM');
    expect(await once(child, 'exit')).toEqual([0, null]);
  });
});
