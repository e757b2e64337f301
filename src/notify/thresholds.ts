import { readCounterValues } from '../ledger/counter-values.js';
import type { LedgerEvent } from '../ledger/ledger-event.js';
import { USAGE_KINDS } from '../ledger/ledger-event.js';
import type { FlushObserver } from '../ledger/outbox-flusher.js';
import { GAUGE_PERIOD } from '../ledger/pg-hydrator.js';
import { periodAt } from '../lib/period.js';
import { limitOf } from '../quota/limits.js';
import type { SubjectRef } from '../quota/types.js';
import { remainingUnits, STATUS_THRESHOLDS, usageStatus } from '../quota/usage-status.js';
import type { WorkerContext } from '../jobs/job.js';
import { grantBalances, loadSubjects, pairKey as pair } from './subject-limits.js';
import { recordNotifications, type NotificationInput } from './webhook-job.js';

/** 80, 95, 100: the percentages that are notified, lowest first. */
export const NOTIFY_THRESHOLDS: readonly number[] = STATUS_THRESHOLDS.map(([t]) => t).sort((a, b) => a - b);

/** Keys checked per round of queries; a larger backlog is split. */
const CHUNK = 500;

/** A (subject, metric, period) whose usage an event just moved. */
export interface ThresholdTouch {
  subjectId: string;
  metric: string;
  /** Counter period (ms), null for gauges; undefined: the subject's current period, resolved later. */
  periodStart: number | null | undefined;
  /** Usage after the latest event; null: read it from usage_counters (events that carry no usage). */
  used: number | null;
  at: number;
}

interface Target {
  subject: SubjectRef;
  metric: string;
  kind: 'counter' | 'gauge';
  limit: number;
  periodStart: number | null;
  used: number;
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * False when `used` is too far below `limit` for any grant to matter: grants only add to
 * what may be used (used + remaining ≥ limit), so the percentage is at most used / limit,
 * and it is rounded to 0.1. Most keys are such; they need no grant lookup nor period math.
 */
const mayReachThreshold = (used: number, limit: number) => used * 100 >= (NOTIFY_THRESHOLDS[0]! - 0.05) * limit;
const keyOf = (t: ThresholdTouch) => `${pair(t.subjectId, t.metric)}\u0000${t.periodStart === undefined ? 'current' : String(t.periodStart)}`;

/**
 * Usage threshold notifications, as a flush observer: after each committed batch, every
 * (subject, metric, period) that fresh events moved is compared with the subject's limit
 * and grants, and each of 80 / 95 / 100 % reached and not yet recorded is recorded (the
 * `notifications` unique index makes that once per threshold per period, across workers)
 * and its webhook enqueued.
 *
 * The percentage is GET /v1/usage's: used / (used + remaining), remaining = plan allowance
 * left + usable grants for counters, limit + unexpired grants − used for gauges; unlimited
 * metrics, metrics not in the policy, unknown subjects and zero usage are never notified.
 * `denied` events count too (they carry the usage that was denied against), and so does
 * `grant_revoke` (less credit, a higher percentage, with no usage event to show it).
 *
 * It never fails or slows the flush: `committed` only queues the keys, a single loop per
 * process checks them (keys touched meanwhile are merged, latest usage wins), and a failed
 * check is logged and dropped — the next event of the key checks "not yet recorded" again.
 */
export class ThresholdNotifier implements FlushObserver {
  private readonly pending = new Map<string, ThresholdTouch>();
  private running: Promise<void> | undefined;
  private now = 0;

  constructor(private readonly ctx: Pick<WorkerContext, 'pool' | 'queue' | 'env' | 'logger' | 'policy'>) {}

  committed(_partition: number, _events: readonly LedgerEvent[], fresh: readonly LedgerEvent[], now: number): void {
    for (const e of fresh) {
      let touch: ThresholdTouch;
      if (USAGE_KINDS.has(e.kind) || e.kind === 'denied') {
        touch = { subjectId: e.subjectId, metric: e.metric, periodStart: e.periodStart, used: e.valueAfter, at: e.occurredAt };
      } else if (e.kind === 'grant_revoke') {
        touch = { subjectId: e.subjectId, metric: e.metric, periodStart: undefined, used: null, at: e.occurredAt };
      } else continue;
      if (!this.ctx.policy.metrics[touch.metric]) continue;
      const key = keyOf(touch);
      const known = this.pending.get(key);
      // Stream order within a batch; across batches (a claimed backlog may be older) the later event wins.
      if (!known || touch.at >= known.at) this.pending.set(key, touch);
    }
    this.now = Math.max(this.now, now);
    if (this.pending.size > 0 && !this.running) this.running = this.loop();
  }

  /** Resolves when every queued check is done (before the worker closes its connections). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async loop(): Promise<void> {
    await Promise.resolve(); // `running` is set before anything below runs
    try {
      while (this.pending.size > 0) {
        const touches = [...this.pending.values()].slice(0, CHUNK);
        for (const t of touches) this.pending.delete(keyOf(t));
        try {
          await this.check(touches, this.now);
        } catch (err) {
          this.ctx.logger.warn({ err: (err as Error).message, keys: touches.length }, 'usage threshold check failed; the next event of each key checks again');
        }
      }
    } finally {
      // In the same step as the last look at `pending`: a key queued after it starts a new loop.
      this.running = undefined;
    }
  }

  /** Records (and enqueues) every threshold reached and not yet recorded; returns how many were new. */
  async check(touches: readonly ThresholdTouch[], now: number): Promise<number> {
    const targets = await this.resolve(touches, now);
    if (targets.length === 0) return 0;
    const grants = await grantBalances(
      this.ctx.pool,
      targets.map((t) => ({ subjectId: t.subject.id, metric: t.metric })),
      now,
    );
    const inputs: NotificationInput[] = [];
    for (const t of targets) {
      const grantBalance = grants.get(pair(t.subject.id, t.metric)) ?? 0;
      const remaining = remainingUnits(t.kind, t.limit, t.used, grantBalance);
      const period = t.periodStart === null ? null : periodAt(t.periodStart, t.subject.anchor);
      const { percent, status } = usageStatus({
        metric: t.metric,
        kind: t.kind,
        limit: t.limit,
        used: t.used,
        remaining,
        grantBalance,
        periodStart: t.periodStart,
        resetsAt: period?.end ?? null,
      });
      if (percent === null) continue;
      for (const threshold of NOTIFY_THRESHOLDS) {
        if (percent < threshold) break;
        inputs.push({
          kind: 'usage_threshold',
          subjectId: t.subject.id,
          metric: t.metric,
          periodStart: t.periodStart ?? GAUGE_PERIOD,
          threshold: String(threshold),
          payload: {
            subject_id: t.subject.id,
            plan: t.subject.plan,
            metric: t.metric,
            metric_kind: t.kind,
            threshold,
            percent,
            status,
            used: t.used,
            limit: t.limit,
            remaining,
            grant_balance: grantBalance,
            period_start: t.periodStart === null ? null : iso(t.periodStart),
            resets_at: period ? iso(period.end) : null,
          },
        });
      }
    }
    const ids = await recordNotifications(this.ctx, inputs);
    return ids.filter((id) => id !== null).length;
  }

  /** Subjects, limits and usage of the touched keys; drops what is never notified. */
  private async resolve(touches: readonly ThresholdTouch[], now: number): Promise<Target[]> {
    const subjects = await loadSubjects(
      this.ctx.pool,
      touches.map((t) => t.subjectId),
    );

    const targets: (Omit<Target, 'used'> & { used: number | null })[] = [];
    for (const t of touches) {
      const subject = subjects.get(t.subjectId);
      const def = this.ctx.policy.metrics[t.metric];
      if (!subject || !def) continue;
      const limit = limitOf(this.ctx.policy, subject, t.metric);
      if (limit === null) continue;
      const periodStart = def.kind === 'gauge' ? null : (t.periodStart ?? periodAt(now, subject.anchor).start);
      if (def.kind === 'counter' && periodStart === null) continue; // a counter event without a period: not ours to judge
      targets.push({ subject, metric: t.metric, kind: def.kind, limit, periodStart, used: t.used });
    }

    const unknown = targets.filter((t) => t.used === null);
    const values = await readCounterValues(
      this.ctx.pool,
      unknown.map((t) => ({ subjectId: t.subject.id, metric: t.metric, periodStart: t.periodStart })),
    );
    unknown.forEach((t, i) => (t.used = values[i]!));
    return targets.filter((t): t is Target => t.used !== null && t.used > 0 && mayReachThreshold(t.used, t.limit));
  }
}
