import { USAGE_KINDS } from './ledger-event.js';

/** Kinds a rollup counts: the usage-moving ones and quota denials. */
const ROLLED_KINDS = [...USAGE_KINDS, 'denied'].map((k) => `'${k}'`).join(', ');

/**
 * The body of a CTE in LedgerWriter's statement that adds the events new to the ledger
 * (its CTE `fresh`: the rows the INSERT actually stored, so a redelivered event adds
 * nothing) to usage_rollups, per subject, UTC hour, metric and period: the same sums as
 * rebuild_usage_rollups() (migrations/007_usage_rollups.sql) makes from the whole ledger.
 * Rows are locked in key order, like the counters, so concurrent batches cannot deadlock.
 */
export const ADD_FRESH_TO_ROLLUPS = `INSERT INTO usage_rollups AS r (subject_id, hour, metric, period_start, net, reset, charges, denials)
       SELECT subject_id, date_trunc('hour', occurred_at, 'UTC'), metric, coalesce(period_start, '-infinity'),
              coalesce(sum(delta) FILTER (WHERE kind <> 'denied'), 0),
              coalesce(sum(delta) FILTER (WHERE kind = 'reset'), 0),
              count(*) FILTER (WHERE kind = 'consume'),
              count(*) FILTER (WHERE kind = 'denied' AND (extra->>'shadow') IS DISTINCT FROM 'true')
         FROM fresh WHERE kind IN (${ROLLED_KINDS})
        GROUP BY 1, 2, 3, 4
        ORDER BY 1, 2, 3, 4
       ON CONFLICT (subject_id, hour, metric, period_start) DO UPDATE
         SET net = r.net + excluded.net, reset = r.reset + excluded.reset,
             charges = r.charges + excluded.charges, denials = r.denials + excluded.denials`;
