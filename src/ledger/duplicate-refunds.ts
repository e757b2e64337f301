import { auditedContext } from '../audit/audited-events.js';
import type { Pool } from 'pg';
import type { Clock } from '../lib/clock.js';
import type { Logger } from 'pino';
import { defaultPlanName } from '../config/policy.js';
import { periodAt } from '../lib/period.js';
import type { QuotaEngine } from '../quota/engine.js';
import type { SubjectRef } from '../quota/types.js';
import { USAGE_KINDS } from './ledger-event.js';

export interface DuplicateOutcome {
  requestId: string;
  subjectId: string;
  /** metric → units given back; empty when it could only be reported. */
  refunded: Record<string, number>;
  reported?: string;
}

/**
 * Refunds requests the ledger found charged twice under one Idempotency-Key (see
 * ledger_duplicates): the net usage of the duplicate request — its consume events and the
 * settle, refund or expiry events of its hold — is given back with an audited `adjust`.
 * A request whose hold is still open is left for the next run; one charged in an earlier
 * period is reported, since adjusting the current period would not undo it.
 */
export class DuplicateRefunds {
  constructor(private readonly deps: { pool: Pool; engine: QuotaEngine; clock: Clock; logger: Logger }) {}

  async resolve(limit = 100): Promise<DuplicateOutcome[]> {
    const { pool, engine } = this.deps;
    const { rows } = await pool.query<{ request_id: string; subject_id: string; idempotency_key: string; plan: string | null; anchor: Date | null }>(
      `SELECT d.request_id, d.subject_id, d.idempotency_key, s.plan, s.anchor
         FROM ledger_duplicates d LEFT JOIN subjects s ON s.id = d.subject_id
        WHERE d.resolved_at IS NULL ORDER BY d.detected_at LIMIT $1`,
      [limit],
    );
    const outcomes: DuplicateOutcome[] = [];
    for (const row of rows) {
      const subject: SubjectRef = { id: row.subject_id, plan: row.plan ?? defaultPlanName(engine.policy), anchor: row.anchor?.getTime() ?? null };
      if (await engine.readHold(subject.id, row.request_id)) continue; // still in flight: its usage is not final yet
      const outcome = await this.refund(subject, row.request_id, row.idempotency_key);
      await pool.query(`UPDATE ledger_duplicates SET resolved_at = now(), resolution = $2 WHERE request_id = $1`, [
        row.request_id,
        JSON.stringify(outcome.reported ? { reported: outcome.reported } : { refunded: outcome.refunded }),
      ]);
      this.deps.logger.warn({ ...outcome, idempotencyKey: row.idempotency_key }, 'a request charged twice under one Idempotency-Key');
      outcomes.push(outcome);
    }
    return outcomes;
  }

  private async refund(subject: SubjectRef, requestId: string, idempotencyKey: string): Promise<DuplicateOutcome> {
    const { rows } = await this.deps.pool.query<{ metric: string; period_ms: string | null; net: string }>(
      `SELECT metric, (extract(epoch FROM period_start) * 1000)::bigint AS period_ms, sum(delta) AS net
         FROM usage_events
        WHERE subject_id = $1 AND kind = ANY($4::text[])
          AND (event_id LIKE $2 OR extra->>'hold' = $3)
        GROUP BY metric, period_start`,
      [subject.id, `${requestId.replace(/[\\%_]/g, '\\$&')}:%`, requestId, [...USAGE_KINDS]],
    );
    const current = periodAt(this.deps.clock.now(), subject.anchor).start;
    const stale = rows.find((r) => r.period_ms !== null && Number(r.period_ms) !== current && Number(r.net) !== 0);
    if (stale) return { requestId, subjectId: subject.id, refunded: {}, reported: `charged in an earlier period (${stale.metric})` };
    const refunded: Record<string, number> = {};
    for (const row of rows) {
      const net = Number(row.net);
      if (net <= 0) continue;
      const who = { actor: 'reconciliation', reason: `refund of a duplicate charge under Idempotency-Key ${idempotencyKey}` };
      const context = auditedContext('usage.duplicate_refunded', who, { duplicate_request: requestId });
      const { applied } = await this.deps.engine.adjust(subject, row.metric, -net, context);
      refunded[row.metric] = -applied;
    }
    return { requestId, subjectId: subject.id, refunded };
  }
}
