import { readDenialsAbove } from '../redis/denial-tally.js';
import type { JobKind, WorkerContext } from '../jobs/job.js';
import { recordNotifications, type NotificationInput } from './webhook-job.js';

const MINUTE_MS = 60_000;
/** How often the denial tallies are read. */
const ABUSE_EVERY_MS = MINUTE_MS;
/**
 * Full minutes looked back at each run, so a worker that was down for a few minutes (or a
 * run that failed) still reports them; a minute already reported is not reported again.
 * Must stay below the tallies' TTL (QuotaEngine `denialTallyTtlMs`, 10 minutes).
 */
const LOOKBACK_MINUTES = 5;

/**
 * JobKind `abuse`, every minute: reads each partition's denial tallies of the last full
 * minutes (src/redis/denial-tally.ts) and records an `abuse` notification (webhook
 * `abuse.suspected`) for every subject above QG_ABUSE_DENIALS_PER_MINUTE in a minute: one
 * per subject per minute (threshold = the minute's start, ISO). The minute comes from
 * ctx.clock, the clock the decisions were tallied with. Returns the notifications it recorded.
 */
export function abuseJob(ctx: WorkerContext): JobKind {
  return {
    name: 'abuse',
    run: async () => {
      const now = ctx.clock.now();
      const current = now - (now % MINUTE_MS);
      const minutes = Array.from({ length: LOOKBACK_MINUTES }, (_, i) => current - (LOOKBACK_MINUTES - i) * MINUTE_MS);
      const limit = ctx.env.QG_ABUSE_DENIALS_PER_MINUTE;

      const inputs: NotificationInput[] = [];
      for (const { minute, subjects } of await readDenialsAbove(ctx.redis, ctx.keys, minutes, limit)) {
        for (const { subjectId, denials } of subjects) {
          inputs.push({
            kind: 'abuse',
            subjectId,
            threshold: new Date(minute).toISOString(),
            payload: {
              subject_id: subjectId,
              denials,
              limit_per_minute: limit,
              minute_start: new Date(minute).toISOString(),
              minute_end: new Date(minute + MINUTE_MS).toISOString(),
            },
          });
        }
      }
      const created = (await recordNotifications(ctx, inputs)).filter((id) => id !== null).length;
      if (created > 0) ctx.logger.warn({ subjects: created, limitPerMinute: limit }, 'abuse suspected: denials above the configured rate');
      return created;
    },
    schedules: [{ id: 'abuse', job: 'abuse', everyMs: ABUSE_EVERY_MS }],
  };
}
