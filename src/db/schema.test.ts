import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScratchDatabase, createTestPool } from '../../test/support/services.js';
import { migrate } from './migrate.js';
import { createPool } from './pool.js';

/** What migrations/001_initial.sql promises beyond "the tables exist". */

const uid = (label: string) => `${label}-${randomUUID()}`;

async function insertEvent(pool: Pool, e: { id: string; at: string; subject?: string; kind?: string }) {
  return pool.query(
    `INSERT INTO usage_events (event_id, occurred_at, subject_id, metric, kind, delta, value_after)
     VALUES ($1, $2, $3, 'gens', $4, 1, 1) ON CONFLICT DO NOTHING`,
    [e.id, e.at, e.subject ?? 'schema-test', e.kind ?? 'consume'],
  );
}

describe('ledger (usage_events)', () => {
  let pool: Pool;
  beforeAll(() => {
    pool = createTestPool();
  });
  afterAll(() => pool.end());

  it('stores a redelivered event once (ON CONFLICT DO NOTHING on event id + time)', async () => {
    const id = uid('evt');
    const at = new Date().toISOString();
    expect((await insertEvent(pool, { id, at })).rowCount).toBe(1);
    expect((await insertEvent(pool, { id, at })).rowCount).toBe(0);
  });

  it('refuses UPDATE and DELETE: the ledger is append-only', async () => {
    const id = uid('evt');
    await insertEvent(pool, { id, at: new Date().toISOString() });
    await expect(pool.query(`UPDATE usage_events SET delta = 5 WHERE event_id = $1`, [id])).rejects.toThrow(/append-only: UPDATE/);
    await expect(pool.query(`DELETE FROM usage_events WHERE event_id = $1`, [id])).rejects.toThrow(/append-only: DELETE/);
    const { rows } = await pool.query<{ delta: string }>(`SELECT delta FROM usage_events WHERE event_id = $1`, [id]);
    expect(rows).toEqual([{ delta: '1' }]);
  });

  it('accepts only the known event kinds', async () => {
    await expect(insertEvent(pool, { id: uid('evt'), at: new Date().toISOString(), kind: 'bogus' })).rejects.toThrow(/usage_events_kind_check/);
  });

  it('keeps an event from a month without a partition in the default partition', async () => {
    const id = uid('evt');
    await insertEvent(pool, { id, at: '1999-01-15T00:00:00Z' });
    const { rows } = await pool.query<{ part: string }>(`SELECT tableoid::regclass::text AS part FROM usage_events WHERE event_id = $1`, [id]);
    expect(rows).toEqual([{ part: 'usage_events_default' }]);
  });
});

describe('ensure_usage_event_partitions', () => {
  // Creating partitions locks the ledger: do it in a database of its own.
  let db: Awaited<ReturnType<typeof createScratchDatabase>>;
  let pool: Pool;
  beforeAll(async () => {
    db = await createScratchDatabase();
    await migrate(db.url);
    pool = createPool(db.url, { max: 2 });
  });
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });

  // Years well past the months the migration creates from today, whatever today is.
  const Y = new Date().getUTCFullYear() + 5;
  const [Y1, Y2, Y3] = [Y + 1, Y + 2, Y + 3];
  const ensure = async (from: string, months: number) => (await pool.query<{ n: number }>(`SELECT ensure_usage_event_partitions($1, $2) AS n`, [from, months])).rows[0]!.n;
  const partitionOf = async (id: string) =>
    (await pool.query<{ part: string }>(`SELECT tableoid::regclass::text AS part FROM usage_events WHERE event_id = $1`, [id])).rows[0]?.part;

  it('creates missing months only, so it can run at every start', async () => {
    expect(await ensure(`${Y}-01-20`, 3)).toBe(3);
    expect(await ensure(`${Y}-02-01`, 3)).toBe(1); // only the 4th month is new
    expect(await ensure(`${Y}-01-01`, 4)).toBe(0);
  });

  it('cuts months at UTC midnight', async () => {
    await ensure(`${Y1}-05-01`, 2);
    await insertEvent(pool, { id: 'may-utc', at: `${Y1}-05-31T23:59:59.999Z` });
    await insertEvent(pool, { id: 'june-utc', at: `${Y1}-05-31T22:30:00-05:00` }); // June 1st, 03:30 UTC
    expect(await partitionOf('may-utc')).toBe(`usage_events_${Y1}05`);
    expect(await partitionOf('june-utc')).toBe(`usage_events_${Y1}06`);
  });

  it('moves rows that landed in the default partition into the month created for them', async () => {
    await insertEvent(pool, { id: 'early-1', at: `${Y2}-03-01T00:00:00Z` });
    await insertEvent(pool, { id: 'early-2', at: `${Y2}-03-31T12:00:00Z` });
    await insertEvent(pool, { id: 'later', at: `${Y2}-04-02T00:00:00Z` });
    expect(await partitionOf('early-1')).toBe('usage_events_default');

    expect(await ensure(`${Y2}-03-01`, 1)).toBe(1);
    expect(await partitionOf('early-1')).toBe(`usage_events_${Y2}03`);
    expect(await partitionOf('early-2')).toBe(`usage_events_${Y2}03`);
    expect(await partitionOf('later')).toBe('usage_events_default');

    // The new partition is as protected as one created empty.
    await expect(pool.query(`DELETE FROM usage_events_${Y2}03`)).rejects.toThrow(/append-only/);
    await expect(pool.query(`TRUNCATE usage_events_${Y2}03`)).rejects.toThrow(/append-only/);
    // ...and the maintenance bypass did not outlive the call.
    await expect(pool.query(`DELETE FROM usage_events_default`)).rejects.toThrow(/append-only/);
    // Its primary key still dedupes.
    expect((await insertEvent(pool, { id: 'early-1', at: `${Y2}-03-01T00:00:00Z` })).rowCount).toBe(0);
  });

  it('refuses TRUNCATE of the ledger and of any partition', async () => {
    await expect(pool.query(`TRUNCATE usage_events`)).rejects.toThrow(/append-only: TRUNCATE/);
    await expect(pool.query(`TRUNCATE usage_events_default`)).rejects.toThrow(/append-only: TRUNCATE/);
    await expect(pool.query(`TRUNCATE usage_events_${Y1}05`)).rejects.toThrow(/append-only: TRUNCATE/);
  });

  it('is safe to call from two workers at once', async () => {
    const results = await Promise.all([ensure(`${Y3}-01-01`, 6), ensure(`${Y3}-01-01`, 6)]);
    expect(results.sort()).toEqual([0, 6]);
  });
});

describe('subjects, keys and grants', () => {
  let pool: Pool;
  beforeAll(() => {
    pool = createTestPool();
  });
  afterAll(() => pool.end());

  it('accepts subject ids of 1–128 chars of [A-Za-z0-9._:@-] only', async () => {
    const good = `org:${randomUUID()}@a.b_c-d`;
    await pool.query(`INSERT INTO subjects (id, plan) VALUES ($1, 'free')`, [good]);
    for (const bad of ['', 'has space', 'semi;colon', 'x'.repeat(129), 'pipe|id']) {
      await expect(pool.query(`INSERT INTO subjects (id, plan) VALUES ($1, 'free')`, [bad])).rejects.toThrow(/subjects_id_check/);
    }
  });

  it('deletes a subject’s keys with it; its grants stay, like its ledger', async () => {
    const subject = uid('sub');
    await pool.query(`INSERT INTO subjects (id, plan) VALUES ($1, 'free')`, [subject]);
    await pool.query(`INSERT INTO api_keys (id, subject_id, prefix, hash) VALUES ($1, $2, 'qg_abcd', sha256($3::bytea))`, [uid('key'), subject, randomUUID()]);
    await pool.query(`INSERT INTO grants (id, subject_id, metric, amount, remaining) VALUES ($1, $2, 'gens', 10, 10)`, [uid('grant'), subject]);
    await pool.query(`DELETE FROM subjects WHERE id = $1`, [subject]);
    const { rows } = await pool.query<{ keys: number; grants: number }>(
      `SELECT (SELECT count(*)::int FROM api_keys WHERE subject_id = $1) AS keys,
              (SELECT count(*)::int FROM grants WHERE subject_id = $1) AS grants`,
      [subject],
    );
    expect(rows[0]).toEqual({ keys: 0, grants: 1 });
  });

  it('rejects impossible grants', async () => {
    const subject = uid('sub');
    await pool.query(`INSERT INTO subjects (id, plan) VALUES ($1, 'free')`, [subject]);
    const grant = (amount: number, remaining: number) =>
      pool.query(`INSERT INTO grants (id, subject_id, metric, amount, remaining) VALUES ($1, $2, 'gens', $3, $4)`, [uid('grant'), subject, amount, remaining]);
    await expect(grant(0, 0)).rejects.toThrow(/grants_amount_check/);
    await expect(grant(5, -1)).rejects.toThrow(/grants_remaining_check/);
    await expect(grant(5, 6)).rejects.toThrow(/grants_remaining_le_amount/);
  });
});
