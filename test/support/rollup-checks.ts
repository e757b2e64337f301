import type { Pool } from 'pg';
import { USAGE_KINDS, type LedgerEvent } from '../../src/ledger/ledger-event.js';
import { periodAt } from '../../src/lib/period.js';
import { HOUR } from './test-time.js';

/**
 * Random ledger events and the sums that usage_rollups must agree with (test/history/*):
 * the same sums computed two ways, from the rollups and straight from usage_events.
 */

/** mulberry32: a small seeded generator, so a failure can be replayed with the seed it names. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** The seed of a run: QG_TEST_SEED, else a fresh one (print it in the test's name). */
export const testSeed = (): number => Number(process.env.QG_TEST_SEED ?? Date.now() % 1_000_000);

const KINDS = ['consume', 'consume', 'consume', 'settle', 'refund', 'release', 'expire', 'reset', 'adjust', 'denied', 'grant', 'grant_revoke'] as const;

/**
 * `count` random events of every kind for `subjects`, at hours between `from` and 40 days
 * later (every fifth on an hour's first or last millisecond, where a bucket ends), ids
 * starting with `idPrefix`. Some settlements land in the period before the one they occur
 * in; a quarter of the denials are shadow-mode ones.
 */
export function randomEvents(rand: () => number, idPrefix: string, subjects: { id: string; anchor: number | null }[], from: number, count: number): LedgerEvent[] {
  const pick = <T>(items: readonly T[]) => items[Math.floor(rand() * items.length)]!;
  const events: LedgerEvent[] = [];
  for (let n = 0; n < count; n++) {
    const subject = pick(subjects);
    const kind = pick(KINDS);
    const metric = pick(['gens', 'tokens', 'projects']);
    const hour = from + Math.floor(rand() * 40 * 24) * HOUR;
    const at = n % 5 === 0 ? hour + (rand() < 0.5 ? 0 : HOUR - 1) : hour + Math.floor(rand() * HOUR);
    const gauge = metric === 'projects' || kind === 'grant' || kind === 'grant_revoke';
    const period = periodAt(at, subject.anchor).start;
    const periodStart = gauge ? null : kind === 'settle' && rand() < 0.3 ? periodAt(period - 1, subject.anchor).start : period;
    const delta = !USAGE_KINDS.has(kind)
      ? 0
      : kind === 'reset'
        ? -Math.floor(rand() * 500)
        : Math.floor(rand() * 200) - (['refund', 'release', 'expire'].includes(kind) ? 200 : 40);
    events.push({
      id: `${idPrefix}-${n}:${1 + (n % 3)}`,
      kind,
      subjectId: subject.id,
      metric,
      periodStart,
      delta,
      valueAfter: 0,
      occurredAt: at,
      extra: kind === 'denied' ? { requested: 5, limit: 10, shadow: rand() < 0.25 } : kind.startsWith('grant') ? { grant: `${idPrefix}-g${n}`, amount: 5, expires_at: 0 } : {},
      context: {},
      streamId: `${at}-${n}`,
    });
  }
  return events;
}

/** Random slices of `events`, overlapping, many delivered twice (a worker killed after its commit), shuffled. */
export function deliveries(rand: () => number, events: readonly LedgerEvent[]): LedgerEvent[][] {
  const batches: LedgerEvent[][] = [];
  for (let i = 0; i < events.length;) {
    const size = 1 + Math.floor(rand() * 120);
    batches.push(events.slice(i, i + size));
    if (rand() < 0.3) batches.push(events.slice(Math.max(0, i - Math.floor(rand() * 40)), i + size + Math.floor(rand() * 40)));
    i += size;
  }
  for (let i = batches.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [batches[i], batches[j]] = [batches[j]!, batches[i]!];
  }
  return batches;
}

/** Per `subject|metric|period|bucket`: [net, reset, charges, denials]; buckets whose sums are all 0 are left out. */
export type Sums = Record<string, [number, number, number, number]>;

const sums = (rows: { k: string; net: string | null; reset: string; charges: string; denials: string }[]): Sums =>
  Object.fromEntries(
    rows
      .map((r): [string, [number, number, number, number]] => [r.k, [Number(r.net ?? 0), Number(r.reset), Number(r.charges), Number(r.denials)]])
      .filter(([, v]) => v.some((x) => x !== 0)),
  );

/** usage_rollups of these subjects, summed per hour or UTC day. */
export async function rollupBuckets(pool: Pool, subjects: readonly string[], bucket: 'hour' | 'day'): Promise<Sums> {
  const { rows } = await pool.query(
    `SELECT concat_ws('|', subject_id, metric, period_start, date_trunc($2, hour, 'UTC')) AS k,
            sum(net) AS net, sum(reset) AS reset, sum(charges) AS charges, sum(denials) AS denials
       FROM usage_rollups WHERE subject_id = ANY($1) GROUP BY 1`,
    [subjects, bucket],
  );
  return sums(rows);
}

/** The same sums straight from the events in usage_events. */
export async function ledgerBuckets(pool: Pool, subjects: readonly string[], bucket: 'hour' | 'day'): Promise<Sums> {
  const { rows } = await pool.query(
    `SELECT concat_ws('|', subject_id, metric, coalesce(period_start, '-infinity'), date_trunc($2, occurred_at, 'UTC')) AS k,
            sum(delta) FILTER (WHERE kind = ANY($3)) AS net,
            coalesce(sum(delta) FILTER (WHERE kind = 'reset'), 0) AS reset,
            count(*) FILTER (WHERE kind = 'consume') AS charges,
            count(*) FILTER (WHERE kind = 'denied' AND NOT (extra->>'shadow')::boolean) AS denials
       FROM usage_events WHERE subject_id = ANY($1) AND kind = ANY($4) GROUP BY 1`,
    [subjects, bucket, [...USAGE_KINDS], [...USAGE_KINDS, 'denied']],
  );
  return sums(rows);
}
