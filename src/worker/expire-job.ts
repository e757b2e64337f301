import type { JobKind, WorkerContext } from '../jobs/job.js';

/** How often reservations past their deadline are looked for. */
const EXPIRE_EVERY_MS = 5_000;

/**
 * Returns the holds (reservations, held charges, leases, in-flight idempotency records)
 * whose deadline has passed: a client that never settled, a gateway that died mid-request.
 * Each release is an `expire` event of its own.
 */
export function expireJob(ctx: WorkerContext): JobKind {
  return {
    name: 'expire',
    run: async () => {
      let expired = 0;
      for (let p = 0; p < ctx.keys.partitions; p++) {
        for (let n = await ctx.engine.expireHolds(p); n > 0; n = await ctx.engine.expireHolds(p)) expired += n;
      }
      if (expired > 0) ctx.logger.info({ expired }, 'returned holds past their deadline');
      return expired;
    },
    schedules: [{ id: 'expire', job: 'expire', everyMs: EXPIRE_EVERY_MS }],
  };
}
