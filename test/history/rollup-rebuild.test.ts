import { runner } from 'node-pg-migrate';
import type { Pool } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool } from '../../src/db/pool.js';
import { migrate, MIGRATIONS_DIR, MIGRATIONS_TABLE } from '../../src/db/migrate.js';
import { rebuildRollups } from '../../src/history/rebuild-rollups.js';
import { LedgerWriter } from '../../src/ledger/ledger-writer.js';
import { eventsJson, INSERT_EVENTS } from '../../src/ledger/usage-events-insert.js';
import { runCli } from '../support/cli.js';
import { deliveries, ledgerBuckets, random, randomEvents, rollupBuckets, testSeed } from '../support/rollup-checks.js';
import { createScratchDatabase } from '../support/services.js';
import { DAY, T0 } from '../support/test-time.js';

/**
 * Rollups of a ledger that existed before them: migration 007 backfills them, and
 * `quotagate rollups rebuild` recounts them (a range, or all), also while workers write.
 * Each case has a database of its own: a rebuild locks and rewrites the whole table.
 */

const SEED = testSeed();
const subjects = [
  { id: 'backfill-cal', anchor: null },
  { id: 'backfill-anc', anchor: Date.UTC(2024, 0, 31, 14, 30) },
];
const ids = subjects.map((s) => s.id);
const FROM = T0 - 30 * DAY;

describe(`usage_rollups of an existing ledger (QG_TEST_SEED=${SEED})`, () => {
  let db: Awaited<ReturnType<typeof createScratchDatabase>>;
  let pool: Pool;
  beforeAll(async () => {
    db = await createScratchDatabase();
    pool = createPool(db.url, { max: 6, onError: () => {} });
  });
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });

  it('are backfilled by the migration that creates them', async () => {
    // The schema as it was before 007, and a ledger written then (without rollups).
    const before = (
      await runner({
        databaseUrl: db.url,
        dir: MIGRATIONS_DIR,
        migrationsTable: MIGRATIONS_TABLE,
        migrationLoaderStrategies: [{ extensions: ['.sql'], loader: 'sql' }],
        direction: 'up',
        count: 4,
        log: () => {},
      })
    ).map((m) => m.name);
    expect(before.at(-1)).toBe('004_admin');
    const events = randomEvents(random(SEED), 'backfill', subjects, FROM, 2_000);
    await pool.query(INSERT_EVENTS, [eventsJson(events)]);

    expect(await migrate(db.url)).toContain('007_usage_rollups');
    for (const bucket of ['hour', 'day'] as const) {
      const ledger = await ledgerBuckets(pool, ids, bucket);
      expect(Object.keys(ledger).length).toBeGreaterThan(20);
      expect(await rollupBuckets(pool, ids, bucket), `per ${bucket}`).toEqual(ledger);
    }
  });

  it('are recounted by `quotagate rollups rebuild`, a range or all of them', async () => {
    const ledger = await ledgerBuckets(pool, ids, 'hour');
    // Damage three stretches: rows lost, rows wrong, rows that should not be there.
    await pool.query(`DELETE FROM usage_rollups WHERE hour >= $1 AND hour < $2`, [new Date(FROM).toISOString(), new Date(FROM + 5 * DAY).toISOString()]);
    await pool.query(`UPDATE usage_rollups SET net = net + 7 WHERE hour >= $1 AND hour < $2`, [new Date(FROM + 10 * DAY).toISOString(), new Date(FROM + 12 * DAY).toISOString()]);
    await pool.query(`INSERT INTO usage_rollups (subject_id, hour, metric, period_start, net) VALUES ('backfill-cal', $1, 'gens', '-infinity', 99)`, [
      new Date(FROM + 20 * DAY).toISOString(),
    ]);
    expect(await rollupBuckets(pool, ids, 'hour')).not.toEqual(ledger);

    // Only the range given: the first stretch is mended, the others are not yet.
    const range = await runCli(['rollups', 'rebuild', '--from', new Date(FROM - DAY).toISOString(), '--to', new Date(FROM + 6 * DAY).toISOString()], { DATABASE_URL: db.url });
    expect(range.stderr).toBe('');
    expect(range.code).toBe(0);
    expect(range.stdout).toMatch(/^recounted \d+ hourly rollup row\(s\) from the ledger, \S+ to \S+\n$/);
    const partly = await rollupBuckets(pool, ids, 'hour');
    const firstDays = (s: typeof ledger) => Object.fromEntries(Object.entries(s).filter(([k]) => Date.parse(k.split('|')[3]!) < FROM + 5 * DAY));
    expect(firstDays(partly)).toEqual(firstDays(ledger));
    expect(partly).not.toEqual(ledger);

    const all = await runCli(['rollups', 'rebuild'], { DATABASE_URL: db.url });
    expect(all).toMatchObject({ code: 0, stderr: '' });
    expect(all.stdout).toMatch(/from the ledger, the beginning to now\n$/);
    expect(await rollupBuckets(pool, ids, 'hour')).toEqual(ledger);

    const bad = await runCli(['rollups', 'rebuild', '--from', 'yesterday'], { DATABASE_URL: db.url });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("option '--from <iso>' argument 'yesterday' is invalid");
  });

  it('recounted while workers write: nothing counted twice, nothing missed', async () => {
    const rand = random(SEED + 1);
    const events = randomEvents(rand, 'racing', subjects, FROM, 3_000);
    const batches = deliveries(rand, events);
    const writers = Array.from({ length: 3 }, () => new LedgerWriter(pool, 86_400_000));
    let next = 0;
    let rebuilds = 0;
    const writing = Promise.all(
      writers.map(async (w) => {
        while (next < batches.length) await w.write(batches[next++]!);
      }),
    );
    // Rebuilds, whole and partial, as long as the writers write.
    const rebuilding = (async () => {
      while (next < batches.length) {
        await rebuildRollups(pool, rebuilds % 2 === 0 ? {} : { from: FROM + 5 * DAY, to: FROM + 25 * DAY });
        rebuilds++;
      }
    })();
    await Promise.all([writing, rebuilding]);
    expect(rebuilds).toBeGreaterThan(1);
    for (const bucket of ['hour', 'day'] as const) expect(await rollupBuckets(pool, ids, bucket), `per ${bucket}`).toEqual(await ledgerBuckets(pool, ids, bucket));
  });
});
