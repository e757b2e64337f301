import { readGrants } from '../redis/scripts/grants-hash.js';
import { decide } from './decide.js';
import type { EngineContext } from './engine-context.js';
import type { MetricUsage, SubjectRef } from './types.js';

/** A grant as Redis holds it now. */
export interface LiveGrant {
  id: string;
  metric: string;
  remaining: number;
  /** ms; null = never. */
  expiresAt: number | null;
}

/** Current usage of the given metrics: a peek at a zero charge, which rebuilds from the ledger what Redis lost. */
export async function usage(ctx: EngineContext, subject: SubjectRef, metrics: readonly string[]): Promise<MetricUsage[]> {
  const decision = await decide(ctx, { subject, charges: metrics.map((metric) => ({ metric, amount: 0 })) }, 'peek');
  if (decision.outcome !== 'allowed') throw new Error(`usage read was answered ${decision.outcome}`);
  return decision.metrics;
}

/**
 * Every grant the subject holds in Redis (the live balances), earliest expiry first;
 * used-up, expired and revoked grants are gone from Redis and so are not listed.
 */
export async function grantsOf(ctx: EngineContext, subject: SubjectRef): Promise<LiveGrant[]> {
  const metrics = Object.keys(ctx.policy.metrics);
  let hashes = await readGrants(ctx.redis, ctx.keys, subject.id, metrics);
  // A missing hash is rebuilt by a usage read (which hydrates), then read again.
  if (hashes.includes(null)) {
    await usage(ctx, subject, metrics);
    hashes = await readGrants(ctx.redis, ctx.keys, subject.id, metrics);
  }
  const now = ctx.clock.now();
  const grants = metrics.flatMap((metric, i) => (hashes[i] ?? []).map((g) => ({ ...g, metric })).filter((g) => g.remaining > 0 && (g.expiresAt === null || g.expiresAt > now)));
  return grants.sort((a, b) => (a.expiresAt ?? Infinity) - (b.expiresAt ?? Infinity) || a.id.localeCompare(b.id));
}
