import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { RedisClient } from '../redis/client.js';
import type { KeySchema } from '../redis/keys.js';
import { emptyUpTo } from '../redis/outbox-stream.js';
import type { Scripts } from '../redis/scripts/registry.js';
import { repairCall } from '../redis/scripts/repair.js';
import { ReplyCode } from '../redis/scripts/reply.js';
import { snapshotCall } from '../redis/scripts/snapshot.js';
import { USAGE_KINDS } from './ledger-event.js';
import { GAUGE_PERIOD } from './pg-hydrator.js';

export interface ReconcileOptions {
  /** Subjects whose ledger counters changed within this window are compared. */
  activeWindowMs: number;
  /** How long to wait for the flusher to commit everything up to a snapshot. */
  watermarkTimeoutMs: number;
}

/** One usage key the ledger knows of. */
interface Tracked {
  subjectId: string;
  metric: string;
  /** ISO instant, or '-infinity' for a gauge. */
  period: string;
  key: string;
}

export interface Drift {
  subjectId: string;
  metric: string;
  period: string;
  redisValue: number;
  ledgerValue: number;
  /** `repaired`: Redis was behind and got the missing units; `reported`: Redis is ahead. */
  action: 'repaired' | 'reported';
}

export interface ReconcileReport {
  runId: string;
  compared: number;
  /** Keys missing in Redis (rebuilt from the ledger on their next use) or whose partition did not drain in time. */
  skipped: number;
  drifts: Drift[];
}

const POLL_MS = 50;

/**
 * Compares Redis with the ledger for active subjects, as of one exact point: a script reads
 * a subject's values together with its outbox's last generated entry id; once the flusher
 * has committed everything up to that id, the ledger value at that point is the counter
 * minus the events recorded after it. Redis behind the ledger is repaired (the missing
 * units are added); Redis ahead is reported, never lowered (that would hand out quota).
 * Every drift is stored with its run.
 */
export class Reconciler {
  constructor(private readonly deps: { redis: RedisClient; scripts: Scripts; keys: KeySchema; pool: Pool; logger: Logger; options: ReconcileOptions }) {}

  async run(trigger: 'schedule' | 'manual'): Promise<ReconcileReport> {
    const { pool } = this.deps;
    const { rows: started } = await pool.query<{ id: string; at: Date }>(`INSERT INTO reconciliation_runs (trigger) VALUES ($1) RETURNING id, started_at AS at`, [trigger]);
    const runId = started[0]!.id;
    try {
      const report = await this.compare(runId, started[0]!.at);
      await pool.query(`UPDATE reconciliation_runs SET finished_at = now(), status = 'finished', stats = $2 WHERE id = $1`, [
        runId,
        JSON.stringify({ compared: report.compared, skipped: report.skipped, drifts: report.drifts.length, repaired: report.drifts.filter((d) => d.action === 'repaired').length }),
      ]);
      return report;
    } catch (err) {
      await pool.query(`UPDATE reconciliation_runs SET finished_at = now(), status = 'failed', stats = $2 WHERE id = $1`, [
        runId,
        JSON.stringify({ error: (err as Error).message }),
      ]);
      throw err;
    }
  }

  private async compare(runId: string, since: Date): Promise<ReconcileReport> {
    const tracked = await this.activeKeys();
    const bySubject = new Map<string, Tracked[]>();
    for (const t of tracked) bySubject.set(t.subjectId, [...(bySubject.get(t.subjectId) ?? []), t]);

    // 1. Snapshots, and the highest watermark each partition must be flushed past.
    const snapshots: { tracked: Tracked; value: number | null; watermark: string }[] = [];
    const partitionMarks = new Map<number, string>();
    for (const [subjectId, keys] of bySubject) {
      const partition = this.deps.keys.partitionOf(subjectId);
      const outbox = this.deps.keys.outbox(partition);
      const snap = await this.deps.scripts.run(
        snapshotCall(
          outbox,
          keys.map((k) => k.key),
        ),
      );
      keys.forEach((t, i) => snapshots.push({ tracked: t, value: snap.values[i]!, watermark: snap.watermark }));
      const mark = partitionMarks.get(partition);
      if (!mark || compareIds(snap.watermark, mark) > 0) partitionMarks.set(partition, snap.watermark);
    }

    // 2. Wait until the flusher has committed every entry up to each partition's watermark.
    const drained = new Set<number>();
    await Promise.all(
      [...partitionMarks].map(async ([partition, mark]) => {
        if (await this.flushedPast(partition, mark)) drained.add(partition);
        else this.deps.logger.warn({ partition, watermark: mark }, 'reconciliation skipped a partition whose outbox did not drain in time');
      }),
    );
    const comparable = snapshots.filter((s) => s.value !== null && drained.has(this.deps.keys.partitionOf(s.tracked.subjectId)));

    // 3. The ledger as of each snapshot, and the drifts.
    const ledger = await this.ledgerAt(comparable, since);
    const drifts: Drift[] = [];
    for (const [i, s] of comparable.entries()) {
      const redisValue = s.value!;
      const ledgerValue = ledger[i]!;
      if (redisValue === ledgerValue) continue;
      let action: Drift['action'] = 'reported';
      if (redisValue < ledgerValue) {
        const reply = await this.deps.scripts.run(repairCall(s.tracked.key, ledgerValue - redisValue));
        if (reply.code === ReplyCode.Ok) action = 'repaired';
      }
      drifts.push({ subjectId: s.tracked.subjectId, metric: s.tracked.metric, period: s.tracked.period, redisValue, ledgerValue, action });
    }
    if (drifts.length > 0) {
      await this.deps.pool.query(
        `INSERT INTO reconciliation_drifts (run_id, subject_id, metric, period_start, redis_value, ledger_value, action)
         SELECT $1, * FROM unnest($2::text[], $3::text[], $4::timestamptz[], $5::bigint[], $6::bigint[], $7::text[])`,
        [
          runId,
          drifts.map((d) => d.subjectId),
          drifts.map((d) => d.metric),
          drifts.map((d) => d.period),
          drifts.map((d) => d.redisValue),
          drifts.map((d) => d.ledgerValue),
          drifts.map((d) => d.action),
        ],
      );
      this.deps.logger.warn({ runId, drifts: drifts.length }, 'reconciliation found drift between Redis and the ledger');
    }
    return { runId, compared: comparable.length, skipped: snapshots.length - comparable.length, drifts };
  }

  /** Current-period counters and gauges of subjects with ledger activity in the window. */
  private async activeKeys(): Promise<Tracked[]> {
    const { rows } = await this.deps.pool.query<{ subject_id: string; metric: string; period: string; ms: string | null }>(
      `SELECT c.subject_id, c.metric, c.period_start::text AS period,
              CASE WHEN c.period_start = '-infinity' THEN NULL ELSE (extract(epoch FROM c.period_start) * 1000)::bigint END AS ms
         FROM usage_counters c
        WHERE c.subject_id IN (SELECT subject_id FROM usage_counters WHERE updated_at >= now() - make_interval(secs => $1))
          AND (c.period_start = '-infinity' OR c.period_start >= now() - interval '32 days')`,
      [this.deps.options.activeWindowMs / 1000],
    );
    return rows.map((r) => ({
      subjectId: r.subject_id,
      metric: r.metric,
      period: r.ms === null ? GAUGE_PERIOD : new Date(Number(r.ms)).toISOString(),
      key: r.ms === null ? this.deps.keys.gauge(r.subject_id, r.metric) : this.deps.keys.counter(r.subject_id, r.metric, Number(r.ms)),
    }));
  }

  /** True once no entry at or below `mark` is left in the partition's outbox (the flusher trims what it committed). */
  private async flushedPast(partition: number, mark: string): Promise<boolean> {
    const outbox = this.deps.keys.outbox(partition);
    for (let waited = 0; waited <= this.deps.options.watermarkTimeoutMs; waited += POLL_MS) {
      if (await emptyUpTo(this.deps.redis, outbox, mark)) return true;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    return false;
  }

  /**
   * The ledger value of each key as of its snapshot: usage_counters now, minus the usage
   * events after the snapshot's watermark. Events recorded before the run started were
   * emitted before any snapshot, so only later ones are looked at.
   */
  private async ledgerAt(snapshots: { tracked: Tracked; watermark: string }[], since: Date): Promise<number[]> {
    if (snapshots.length === 0) return [];
    const marks = snapshots.map((s) => s.watermark.split('-').map(Number) as [number, number]);
    const { rows } = await this.deps.pool.query<{ ord: string; value: string }>(
      `SELECT k.ord, c.value - coalesce((
                SELECT sum(e.delta) FROM usage_events e
                 WHERE e.subject_id = k.subject_id AND e.metric = k.metric
                   AND e.period_start IS NOT DISTINCT FROM nullif(k.period_start, '-infinity'::timestamptz)
                   AND e.recorded_at >= $6 AND e.kind = ANY($7::text[]) AND e.stream_id IS NOT NULL
                   AND (split_part(e.stream_id, '-', 1)::bigint, split_part(e.stream_id, '-', 2)::bigint) > (k.mark_ms, k.mark_seq)
              ), 0) AS value
         FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::bigint[], $5::bigint[])
              WITH ORDINALITY AS k(subject_id, metric, period_start, mark_ms, mark_seq, ord)
         JOIN usage_counters c ON c.subject_id = k.subject_id AND c.metric = k.metric AND c.period_start = k.period_start`,
      [
        snapshots.map((s) => s.tracked.subjectId),
        snapshots.map((s) => s.tracked.metric),
        snapshots.map((s) => s.tracked.period),
        marks.map((m) => m[0]),
        marks.map((m) => m[1]),
        since,
        [...USAGE_KINDS],
      ],
    );
    const values = new Array<number>(snapshots.length).fill(0);
    for (const row of rows) values[Number(row.ord) - 1] = Number(row.value);
    return values;
  }
}

/** Orders stream ids `<ms>-<seq>` numerically. */
function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(Number) as [number, number];
  const [bm, bs] = b.split('-').map(Number) as [number, number];
  return am !== bm ? am - bm : as - bs;
}
