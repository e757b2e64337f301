/**
 * Billing periods: monthly from an anchor instant, in UTC. An anchor on the 29th–31st clamps
 * to the last day of shorter months, always measured from the original anchor (Jan 31 →
 * Feb 28 → Mar 31), keeping the anchor's time of day. With no anchor, periods are calendar
 * months (anchor 1970-01-01T00:00Z).
 */
export interface Period {
  /** Inclusive start, ms since epoch. Identifies the period in keys and the ledger. */
  start: number;
  /** Exclusive end, ms since epoch. */
  end: number;
}

const CALENDAR_ANCHOR = 0;

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
}

/** The anchor moved by `months` whole months, with the day clamped to the target month. */
export function addMonths(anchor: number, months: number): number {
  const a = new Date(anchor);
  const total = a.getUTCFullYear() * 12 + a.getUTCMonth() + months;
  const year = Math.floor(total / 12);
  const month = total - year * 12;
  const day = Math.min(a.getUTCDate(), daysInMonth(year, month));
  return Date.UTC(year, month, day, a.getUTCHours(), a.getUTCMinutes(), a.getUTCSeconds(), a.getUTCMilliseconds());
}

/** The period that contains `at` for a subject anchored at `anchor` (null: calendar months). */
export function periodAt(at: number, anchor: number | null = null): Period {
  const base = anchor ?? CALENDAR_ANCHOR;
  const a = new Date(base);
  const t = new Date(at);
  let k = (t.getUTCFullYear() - a.getUTCFullYear()) * 12 + (t.getUTCMonth() - a.getUTCMonth());
  // The month difference is within one of the answer; step to the period that holds `at`.
  if (addMonths(base, k) > at) k -= 1;
  else if (addMonths(base, k + 1) <= at) k += 1;
  return { start: addMonths(base, k), end: addMonths(base, k + 1) };
}

/** Length of a period in whole seconds (the RateLimit-Policy window). */
export const periodSeconds = (p: Period): number => Math.round((p.end - p.start) / 1000);
