import type { Queryable } from '../../db/transaction.js';
import { DAY_MS, utcDate } from '../../lib/utc-days.js';

/** Every subject's rollups of a window, summed: the overview's top consumers and denials. */

const iso = (ms: number) => new Date(ms).toISOString();
const rate = (charges: number, denials: number) => (charges + denials === 0 ? null : Math.round((denials / (charges + denials)) * 1000) / 10);

export interface TopConsumers {
  metric: string;
  subjects: { subject: string; usage: number }[];
}

/** Per metric of `metrics`, the `count` subjects that used most since `from` (usage net of refunds, resets left out). */
export async function topConsumers(db: Queryable, metrics: readonly string[], from: number, count: number): Promise<TopConsumers[]> {
  const { rows } = await db.query<{ metric: string; subject_id: string; usage: string }>(
    `SELECT metric, subject_id, usage FROM (
       SELECT metric, subject_id, usage, row_number() OVER (PARTITION BY metric ORDER BY usage DESC, subject_id) AS place
         FROM (SELECT metric, subject_id, sum(net - reset) AS usage FROM usage_rollups
                WHERE hour >= $1 AND metric = ANY($2::text[]) GROUP BY 1, 2) AS used
        WHERE usage > 0) AS ranked
      WHERE place <= $3 ORDER BY metric, place`,
    [iso(from), metrics, count],
  );
  return metrics.map((metric) => ({ metric, subjects: rows.filter((r) => r.metric === metric).map((r) => ({ subject: r.subject_id, usage: Number(r.usage) })) }));
}

export interface DenialTotals {
  /** One entry per UTC day from `from`, oldest first. */
  daily: { date: string; charges: number; denials: number; rate: number | null }[];
  /** Since `recentFrom`, per metric. */
  recent: { metric: string; charges: number; denials: number; rate: number | null }[];
}

/** Charges and quota denials of every subject per UTC day of `days` from `from`, and per metric since `recentFrom`; rate = denials / (charges + denials), in %. */
export async function denialTotals(db: Queryable, from: number, days: number, recentFrom: number): Promise<DenialTotals> {
  const { rows } = await db.query<{ day: string; metric: string; recent: boolean; charges: string; denials: string }>(
    `SELECT extract(epoch FROM date_trunc('day', hour, 'UTC')) * 1000 AS day, metric, hour >= $2 AS recent,
            sum(charges) AS charges, sum(denials) AS denials
       FROM usage_rollups WHERE hour >= $1 GROUP BY 1, 2, 3`,
    [iso(from), iso(recentFrom)],
  );
  const daily = Array.from({ length: days }, (_, i) => ({ start: from + i * DAY_MS, charges: 0, denials: 0 }));
  const recent = new Map<string, { charges: number; denials: number }>();
  for (const r of rows) {
    const [charges, denials] = [Number(r.charges), Number(r.denials)];
    const day = daily[Math.round((Number(r.day) - from) / DAY_MS)];
    if (day) {
      day.charges += charges;
      day.denials += denials;
    }
    if (r.recent) {
      const m = recent.get(r.metric) ?? { charges: 0, denials: 0 };
      recent.set(r.metric, { charges: m.charges + charges, denials: m.denials + denials });
    }
  }
  return {
    daily: daily.map((d) => ({ date: utcDate(d.start), charges: d.charges, denials: d.denials, rate: rate(d.charges, d.denials) })),
    recent: [...recent.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([metric, t]) => ({ metric, ...t, rate: rate(t.charges, t.denials) })),
  };
}
