import { z } from '@hono/zod-openapi';
import type { ApiSchemas } from './schemas.js';
import { usageEntry } from './usage-entries.js';
import type { MetricHistory, SubjectHistory } from '../history/usage-history.js';
import { utcDate } from '../lib/utc-days.js';

const int = z.number().int();
const iso = (ms: number) => new Date(ms).toISOString();

const bucketFields = {
  usage: int.openapi({ description: 'Units used, net of refunds and releases; resets left out' }),
  reset: int.openapi({ description: 'Units removed by resets' }),
  charges: int.openapi({ description: 'Charges allowed' }),
  denials: int.openapi({ description: 'Quota denials' }),
};

/** Schemas of the usage history: the admin API's full one, and GET /v1/usage's compact one. */
export function historySchemas(api: ApiSchemas) {
  const day = z
    .object({
      date: z.string().openapi({ example: '2026-11-30' }),
      ...bucketFields,
      level: int.openapi({ description: "Counters: used in the period at the day's end (now, for today); gauges: the level" }),
    })
    .openapi('UsageDay');
  const hour = z.object({ start: z.string(), ...bucketFields }).openapi('UsageHour');
  const metric = api.usageEntry
    .extend({
      daily: z.array(day).openapi({ description: 'One entry per UTC day, oldest first; the last is today so far' }),
      hourly: z.array(hour).openapi({ description: "Today's UTC hours so far" }),
      projection: z
        .array(z.object({ at: z.string(), used: int }))
        .openapi({ description: "The forecast's projected usage at each UTC midnight until the period ends, and at its end (empty without a forecast)" }),
    })
    .openapi('MetricHistory');
  return {
    subject: z
      .object({
        subject: z.string(),
        plan: z.string(),
        days: int,
        from: z.string().openapi({ description: 'Start of the first day (UTC)' }),
        to: z.string().openapi({ description: 'Now: the end of the last day so far' }),
        metrics: z.array(metric),
      })
      .openapi('UsageHistory'),
    compact: z
      .object({
        from: z.string().openapi({ description: 'The first UTC day, YYYY-MM-DD', example: '2026-11-07' }),
        daily: z.array(int).openapi({ description: 'Units used per UTC day from `from`, the last today so far (net of refunds; resets left out)' }),
        hourly: z.array(int).openapi({ description: 'Units used per UTC hour of today so far' }),
      })
      .openapi('CompactHistory'),
  };
}

export const metricHistoryJson = (h: MetricHistory) => ({
  ...usageEntry(h.usage, h.forecast),
  daily: h.daily.map(({ start, usage, reset, charges, denials, level }) => ({ date: utcDate(start), usage, reset, charges, denials, level })),
  hourly: h.hourly.map(({ start, usage, reset, charges, denials }) => ({ start: iso(start), usage, reset, charges, denials })),
  projection: (h.forecast?.path ?? []).map((p) => ({ at: iso(p.at), used: p.used })),
});

export const subjectHistoryJson = (subject: { id: string; plan: string }, h: SubjectHistory) => ({
  subject: subject.id,
  plan: subject.plan,
  days: h.metrics[0]?.daily.length ?? 0,
  from: iso(h.from),
  to: iso(h.now),
  metrics: h.metrics.map(metricHistoryJson),
});

/** GET /v1/usage?history=…: usage per day and today's hours, as plain arrays. */
export const compactHistoryJson = (h: SubjectHistory, m: MetricHistory) => ({
  from: utcDate(h.from),
  daily: m.daily.map((d) => d.usage),
  hourly: m.hourly.map((b) => b.usage),
});
