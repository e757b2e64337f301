import { DuplicateRefunds, type DuplicateOutcome } from '../ledger/duplicate-refunds.js';
import { Reconciler, type ReconcileReport } from '../ledger/reconciler.js';
import { withAdvisoryLock } from '../db/advisory-lock.js';
import { enqueueWebhooks, recordNotifications } from '../notify/webhook-job.js';
import type { JobKind, WorkerContext } from '../jobs/job.js';

/** How long a run waits for a partition's outbox to be flushed past its snapshot. */
const WATERMARK_TIMEOUT_MS = 30_000;

export type ReconcileRun = ReconcileReport & { duplicates: DuplicateOutcome[] };

/**
 * Reconciliation, on a schedule and on demand (`trigger: 'manual'`): Redis against the
 * ledger, then refunds of requests the ledger found charged twice under one Idempotency-Key.
 */
export function reconcileJob(ctx: WorkerContext): JobKind & { reconcile(trigger: 'schedule' | 'manual'): Promise<ReconcileRun> } {
  const reconciler = new Reconciler({
    redis: ctx.redis,
    scripts: ctx.scripts,
    keys: ctx.keys,
    pool: ctx.pool,
    logger: ctx.logger,
    options: { activeWindowMs: ctx.env.QG_RECONCILE_ACTIVE_WINDOW_SECONDS * 1000, watermarkTimeoutMs: WATERMARK_TIMEOUT_MS },
  });
  const duplicates = new DuplicateRefunds({ pool: ctx.pool, engine: ctx.engine, clock: ctx.clock, logger: ctx.logger });
  // Two runs at once (a manual one during a scheduled one, or on two workers) would both
  // add the units a key is missing: runs take turns.
  const reconcile = (trigger: 'schedule' | 'manual'): Promise<ReconcileRun> =>
    withAdvisoryLock(ctx.pool, 'quotagate:reconcile', async () => {
      const report = await reconciler.run(trigger);
      ctx.metrics.reconciled(report.drifts);
      await notifyDrifts(ctx, report);
      return { ...report, duplicates: await duplicates.resolve() };
    });
  return {
    name: 'reconcile',
    reconcile,
    run: async (data) => {
      const run = await reconcile(data.trigger === 'manual' ? 'manual' : 'schedule');
      return { runId: run.runId, compared: run.compared, skipped: run.skipped, drifts: run.drifts.length, duplicates: run.duplicates.length };
    },
    schedules: [{ id: 'reconcile', job: 'reconcile', everyMs: ctx.env.QG_RECONCILE_INTERVAL_SECONDS * 1000 }],
  };
}

/** One `reconciliation.drift` notification per drifting key and distinct drift. */
async function notifyDrifts(ctx: WorkerContext, report: ReconcileReport): Promise<void> {
  if (report.drifts.length === 0) return;
  const ids = await recordNotifications(
    ctx,
    report.drifts.map((d) => ({
      kind: 'drift' as const,
      subjectId: d.subjectId,
      metric: d.metric,
      periodStart: d.period,
      // The drift's values, not the run: a Redis ahead of the ledger is reported by every
      // run until someone acts, but notified once (again only if the numbers change).
      threshold: `redis=${d.redisValue ?? 'missing'},ledger=${d.ledgerValue}`,
      payload: { run_id: report.runId, subject: d.subjectId, metric: d.metric, period_start: d.period, redis_value: d.redisValue, ledger_value: d.ledgerValue, action: d.action },
    })),
  );
  await enqueueWebhooks(
    ctx,
    ids.filter((id): id is string => id !== null),
  );
}
