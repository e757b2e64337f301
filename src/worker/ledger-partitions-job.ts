import type { JobKind, WorkerContext } from '../jobs/job.js';

/** How many monthly ledger partitions are kept created ahead. */
const MONTHS_AHEAD = 3;

/** Daily: creates the ledger's monthly partitions ahead, so no event lands in the default partition. */
export function ledgerPartitionsJob(ctx: WorkerContext): JobKind {
  return {
    name: 'ledger-partitions',
    run: async () => (await ctx.pool.query('SELECT ensure_usage_event_partitions((now() AT TIME ZONE $1)::date, $2) AS created', ['UTC', MONTHS_AHEAD])).rows[0],
    schedules: [{ id: 'ledger-partitions', job: 'ledger-partitions', everyMs: 86_400_000 }],
  };
}
