import { Reconciler } from '../ledger/reconciler.js';
import type { JobKind, WorkerContext } from './job.js';

/** How long a run waits for a partition's outbox to be flushed past its snapshot. */
const WATERMARK_TIMEOUT_MS = 30_000;

/** Reconciliation of Redis against the ledger: on a schedule, and on demand (`trigger: 'manual'`). */
export function reconcileJob(ctx: WorkerContext): JobKind & { reconciler: Reconciler } {
  const reconciler = new Reconciler({
    redis: ctx.redis,
    scripts: ctx.engine.scripts,
    keys: ctx.keys,
    pool: ctx.pool,
    logger: ctx.logger,
    options: { activeWindowMs: ctx.env.QG_RECONCILE_ACTIVE_WINDOW_SECONDS * 1000, watermarkTimeoutMs: WATERMARK_TIMEOUT_MS },
  });
  return {
    name: 'reconcile',
    reconciler,
    run: async (data) => {
      const report = await reconciler.run(data.trigger === 'manual' ? 'manual' : 'schedule');
      return { runId: report.runId, compared: report.compared, skipped: report.skipped, drifts: report.drifts.length };
    },
    schedules: [{ id: 'reconcile', job: 'reconcile', everyMs: ctx.env.QG_RECONCILE_INTERVAL_SECONDS * 1000 }],
  };
}
