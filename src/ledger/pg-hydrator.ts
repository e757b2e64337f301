import type { Pool } from 'pg';
import type { GrantBalance, HydrationData, HydrationRequest, Hydrator } from '../quota/hydration.js';

/** Gauge levels have no period; the ledger files them under this period start. */
export const GAUGE_PERIOD = '-infinity';

const toPeriod = (periodStart: number | null) => (periodStart === null ? GAUGE_PERIOD : new Date(periodStart).toISOString());

/**
 * Rebuilds lost Redis state from Postgres: usage from `usage_counters`, grant balances from
 * `grants`. Both are kept current by the outbox flusher, so what may be missing is at most
 * the events not yet flushed when Redis lost its data.
 */
export class PgHydrator implements Hydrator {
  constructor(private readonly pool: Pool) {}

  async load(request: HydrationRequest): Promise<HydrationData> {
    const usage = new Array<number>(request.usage.length).fill(0);
    const grants: Record<string, GrantBalance[]> = {};
    if (request.usage.length > 0) {
      const { rows } = await this.pool.query<{ ord: string; value: string }>(
        `SELECT u.ord, c.value
           FROM unnest($2::text[], $3::timestamptz[]) WITH ORDINALITY AS u(metric, period_start, ord)
           JOIN usage_counters c
             ON c.subject_id = $1 AND c.metric = u.metric AND c.period_start = u.period_start`,
        [request.subjectId, request.usage.map((u) => u.metric), request.usage.map((u) => toPeriod(u.periodStart))],
      );
      for (const row of rows) usage[Number(row.ord) - 1] = Number(row.value);
    }
    if (request.grants.length > 0) {
      const { rows } = await this.pool.query<{ id: string; metric: string; remaining: string; expires_at: Date | null }>(
        `SELECT id, metric, remaining, expires_at
           FROM grants
          WHERE subject_id = $1 AND metric = ANY($2::text[]) AND revoked_at IS NULL AND remaining > 0`,
        [request.subjectId, request.grants],
      );
      for (const metric of request.grants) grants[metric] = [];
      for (const row of rows) {
        grants[row.metric]!.push({ id: row.id, remaining: Number(row.remaining), expiresAt: row.expires_at?.getTime() ?? null });
      }
    }
    return { usage, grants };
  }
}
