import { z } from '@hono/zod-openapi';
import type { Pool } from 'pg';
import type { ApiSchemas } from '../../api/schemas.js';
import type { GatewayDeps } from '../../http/gateway-deps.js';
import type { AdminDeps } from '../admin-deps.js';
import { deadLetterStatus } from './dead-letters.js';
import { driftStatus } from './drift-status.js';
import { nearLimit } from './near-limit.js';
import { denialTotals, topConsumers } from './rollup-totals.js';
import { DAY_MS, utcDayStart } from '../../lib/utc-days.js';

/** Days of the overview's charts and top consumers. */
export const OVERVIEW_DAYS = 30;
/** Subjects per metric among the top consumers. */
const TOP = 10;
/**
 * How long a gateway reuses the rollup totals (top consumers, denials per day): they scan
 * every subject's rows of the window, the costly part of the overview (bench/RESULTS.md,
 * "History"), and a minute-old ranking serves an operator as well.
 */
const TOTALS_TTL_MS = 60_000;

type Totals = { at: number; top: Awaited<ReturnType<typeof topConsumers>>; denials: Awaited<ReturnType<typeof denialTotals>> };
const totalsOf = new WeakMap<Pool, { expires: number; from: number; totals: Promise<Totals> }>();

/** The rollup totals of the window from `from`, read at most once per TOTALS_TTL_MS per pool (per gateway). */
function rollupTotals(pool: Pool, counters: string[], from: number, now: number): Promise<Totals> {
  const cached = totalsOf.get(pool);
  if (cached && cached.from === from && cached.expires > Date.now()) return cached.totals;
  const totals = Promise.all([topConsumers(pool, counters, from, TOP), denialTotals(pool, from, OVERVIEW_DAYS, now - DAY_MS)]).then(([top, denials]) => ({
    at: now,
    top,
    denials,
  }));
  totalsOf.set(pool, { expires: Date.now() + TOTALS_TTL_MS, from, totals });
  // A failed read is not kept.
  totals.catch(() => {
    if (totalsOf.get(pool)?.totals === totals) totalsOf.delete(pool);
  });
  return totals;
}

/** The operator's overview, as GET /admin/v1/overview answers it and /admin/ui/overview draws it. */
export async function loadOverview(deps: GatewayDeps, admin: AdminDeps) {
  const now = deps.clock.now();
  const today = utcDayStart(now);
  const from = today - (OVERVIEW_DAYS - 1) * DAY_MS;
  const counters = Object.keys(deps.policy.metrics).filter((m) => deps.policy.metrics[m]!.kind === 'counter');
  const [near, totals, drift, deadLetters] = await Promise.all([
    nearLimit(deps, admin),
    rollupTotals(admin.pool, counters, from, now),
    driftStatus(admin.pool, now),
    deadLetterStatus(admin.pool),
  ]);
  return {
    at: new Date(now).toISOString(),
    days: OVERVIEW_DAYS,
    near_limit: near,
    totals_at: new Date(totals.at).toISOString(),
    top_consumers: totals.top,
    denials: totals.denials,
    drift,
    dead_letters: deadLetters,
  };
}

export type Overview = Awaited<ReturnType<typeof loadOverview>>;

export function overviewSchema(api: ApiSchemas) {
  const int = z.number().int();
  const rate = z.number().nullable().openapi({ description: 'denials / (charges + denials), in %; null without either' });
  return z
    .object({
      at: z.string(),
      days: int,
      near_limit: z.array(api.usageEntry.extend({ subject: z.string(), plan: z.string() })).openapi({
        description:
          'Metrics of subjects at 80 % or more, or projected to run out before their period ends, most used first (candidates from the newest threshold and projection notifications, read live)',
      }),
      totals_at: z.string().openapi({ description: 'When top_consumers and denials were read (each gateway reads them at most once a minute)' }),
      top_consumers: z
        .array(z.object({ metric: z.string(), subjects: z.array(z.object({ subject: z.string(), usage: int })) }))
        .openapi({ description: 'Per counter, the subjects that used most over the last `days` UTC days (today included)' }),
      denials: z.object({
        daily: z.array(z.object({ date: z.string(), charges: int, denials: int, rate })).openapi({ description: 'Every subject together, per UTC day' }),
        recent: z.array(z.object({ metric: z.string(), charges: int, denials: int, rate })).openapi({ description: 'The last 24 hours, per metric' }),
      }),
      drift: z.object({
        last_run: z
          .object({ id: int, started_at: z.string(), finished_at: z.string().nullable(), status: z.string(), trigger: z.string(), stats: z.record(z.string(), z.unknown()) })
          .nullable(),
        week: z.record(z.string(), int).openapi({ description: 'Drifts found by the last 7 days of runs, by action' }),
        recent: z.array(z.object({ run_id: int, subject: z.string(), metric: z.string(), redis_value: int.nullable(), ledger_value: int, action: z.string(), at: z.string() })),
      }),
      dead_letters: z
        .object({ pending: int, oldest_at: z.string().nullable() })
        .openapi({ description: 'Parked ledger events (set aside by the flusher, not in the ledger until replayed): how many, and the oldest' }),
    })
    .openapi('Overview');
}
