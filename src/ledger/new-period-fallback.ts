import { isPostgresOutage } from '../db/connection-error.js';
import type { Clock } from '../lib/clock.js';
import type { HydrationData, HydrationRequest, Hydrator } from '../quota/hydration.js';
import type { RedisClient } from '../redis/client.js';
import type { KeySchema } from '../redis/keys.js';

/**
 * How far apart two gateways' clocks may be. A mark written by a gateway whose clock is
 * behind would vouch for a moment before the loss it follows; a period counts as covered
 * only when it began this long after the mark.
 */
export const CLOCK_SKEW_MARGIN_MS = 60_000;

/**
 * Lets decisions go on across a period boundary while Postgres is down.
 *
 * At a new period every subject's first decision finds its counter missing in Redis, and
 * hydration asks Postgres for a value that can only be 0 — unless Redis lost that counter.
 * Each partition carries a mark saying since when its keys have been kept whole; it is lost
 * with them and re-written (SET NX) by a gateway at start, on every reconnect and after each
 * hydration that reached Postgres. Every change of a counter goes through Redis first, so a
 * counter of a period that began after the mark, and that Redis lacks, has had no change:
 * when Postgres cannot be reached, it is 0 without asking.
 *
 * Anything else still needs Postgres and fails as before: grants, gauges, a period that
 * began before the mark (Redis may have lost it), one that has ended (its counter may have
 * expired). Keys removed by hand or evicted (a `maxmemory-policy` other than `noeviction`)
 * are outside the mark's promise.
 */
export class NewPeriodFallback implements Hydrator {
  constructor(
    private readonly ledger: Hydrator,
    private readonly redis: RedisClient,
    private readonly keys: KeySchema,
    private readonly clock: Clock,
  ) {}

  async load(request: HydrationRequest): Promise<HydrationData> {
    const partition = this.keys.partitionOf(request.subjectId);
    let data: HydrationData;
    try {
      data = await this.ledger.load(request);
    } catch (err) {
      if (!isPostgresOutage(err) || !(await this.coveredByMark(request, partition))) throw err;
      return { usage: request.usage.map(() => 0), grants: {} };
    }
    // What was just loaded is whole again: a missing mark (Redis lost this partition) can start
    // now. Best effort: without Redis, the hydration's own write fails next and answers for it.
    await this.mark(partition).catch(() => {});
    return data;
  }

  /** Marks every partition whose mark is missing; at start and after each reconnect. */
  async markAll(): Promise<void> {
    await Promise.all(Array.from({ length: this.keys.partitions }, (_, p) => this.mark(p)));
  }

  private async mark(partition: number): Promise<void> {
    await this.redis.set(this.keys.intactSince(partition), String(this.clock.now()), 'NX');
  }

  private async coveredByMark(request: HydrationRequest, partition: number): Promise<boolean> {
    if (request.grants.length > 0 || request.usage.length === 0) return false;
    const mark = await this.redis.get(this.keys.intactSince(partition));
    if (mark === null) return false;
    const since = Number(mark) + CLOCK_SKEW_MARGIN_MS;
    const now = this.clock.now();
    return request.usage.every((u) => u.kind === 'counter' && u.periodStart !== null && u.periodEnd !== null && u.periodStart >= since && now < u.periodEnd);
  }
}
