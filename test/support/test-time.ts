/**
 * Instants for tests, derived from the real clock at load time.
 *
 * State that a test writes to a real Redis or Postgres must be current whatever day the
 * suite runs: a pinned calendar date ages into the past, and the day it does, the data
 * around it (expiring keys, monthly partitions, "recent" rows) behaves differently. Tests
 * that need a particular calendar case (a 31st anchor, Feb 29, Dec 31 → Jan 1) find the
 * next such instant from here and move their injected clock to it.
 */
import type { Clock } from '../../src/lib/clock.js';

export const DAY = 86_400_000;
export const HOUR = 3_600_000;

/** 00:00 UTC on the 1st of the month `months` after the one holding `at`. */
export function monthStart(at: number, months = 0): number {
  const d = new Date(at);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + months, 1);
}

/** The 10th of the current UTC month, 12:00: mid-period, so tests can move within the month. */
export const T0 = monthStart(Date.now()) + 9 * DAY + 12 * HOUR;
/** The calendar period T0 is in, and the ones around it. */
export const PERIOD_START = monthStart(T0);
export const NEXT_PERIOD_START = monthStart(T0, 1);
export const PREVIOUS_PERIOD_START = monthStart(T0, -1);

/** `YYYY-MM` of a month start, as the ledger's tests name periods. */
export const monthLabel = (at: number): string => new Date(at).toISOString().slice(0, 7);

/** The first Jan 1 (00:00 UTC) after T0, so `newYear - 1 ms` is Dec 31 of the current year. */
export function nextNewYear(from = T0): number {
  return Date.UTC(new Date(from).getUTCFullYear() + 1, 0, 1);
}

/** The first year after T0 with a Feb 29. */
export function nextLeapYear(from = T0): number {
  for (let year = new Date(from).getUTCFullYear() + 1; ; year++) {
    if (new Date(Date.UTC(year, 1, 29)).getUTCMonth() === 1) return year;
  }
}

/** The real clock moved by `offset` ms: a gateway living at another time that still ticks. */
export class ShiftedClock implements Clock {
  offset = 0;
  now(): number {
    return Date.now() + this.offset;
  }
  /** Moves it so that now() is `at`. */
  at(at: number): void {
    this.offset = at - Date.now();
  }
}
