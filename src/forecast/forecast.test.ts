import { describe, expect, it } from 'vitest';
import { ManualClock } from '../lib/clock.js';
import { periodAt, type Period } from '../lib/period.js';
import { DAY, HOUR, T0 } from '../../test/support/test-time.js';
import { FORECAST_BASIS_DAYS, forecastCounter, MIN_BASIS_DAYS, type ForecastInput } from './forecast.js';

/**
 * The forecast's math under an injected clock: each case moves a ManualClock from T0 (the
 * 10th of this month, 12:00 UTC) and reads the calendar period it is in.
 */

const clock = new ManualClock(T0);
const steady = (units: number, days = FORECAST_BASIS_DAYS) => Array.from({ length: days }, () => units);
const daysLeft = (period: Period, now: number) => (period.end - now) / DAY;

function forecast(input: Partial<ForecastInput> & Pick<ForecastInput, 'daily' | 'used' | 'remaining'>) {
  const now = clock.now();
  return forecastCounter({ now, period: periodAt(now), ...input });
}

describe('forecastCounter', () => {
  it('steady usage: projects the same pace to the period end and names the day the limit is reached', () => {
    clock.set(T0 - 12 * HOUR); // the 10th, 00:00
    const now = clock.now();
    const period = periodAt(now);
    const f = forecast({ daily: steady(100), used: 900, remaining: 1_100 })!;
    expect(f).toMatchObject({
      basisDays: 14,
      dailyRate: 100,
      projectedUsed: Math.round(900 + 100 * daysLeft(period, now)),
      projectedPercent: Math.round(((900 + 100 * daysLeft(period, now)) / 2_000) * 1000) / 10,
      // 1,100 left at 100 a day: 11 days from now, the 21st at 00:00.
      limitReachedAt: now + 11 * DAY,
      dailyBudget: Math.floor((1_100 / daysLeft(period, now)) * 10) / 10,
    });
    // The path for charts: one point per midnight until the period ends (itself a midnight).
    expect(f.path).toEqual(Array.from({ length: daysLeft(period, now) }, (_, i) => ({ at: now + (i + 1) * DAY, used: 900 + 100 * (i + 1) })));
  });

  it('steady usage that fits: no limit date, and a budget above the pace', () => {
    clock.set(T0);
    const f = forecast({ daily: steady(10), used: 90, remaining: 910 })!;
    expect(f.limitReachedAt).toBeNull();
    expect(f.projectedPercent).toBeLessThan(100);
    expect(f.dailyBudget).toBeGreaterThan(f.dailyRate);
  });

  it('bursty usage: one burst raises the pace moderately, it is not taken as the new daily rate', () => {
    clock.set(T0);
    const burst = forecast({ daily: [...steady(100, 13), 1_500], used: 2_400, remaining: 10_000 })!;
    expect(burst.dailyRate).toBeGreaterThan(100);
    expect(burst.dailyRate).toBeLessThan(400);
    // Bursts every other day: the pace is their average, whichever day comes last.
    const alternating = [0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1].map((on) => on * 700);
    for (const daily of [alternating, [...alternating.slice(1), 0]]) {
      const f = forecast({ daily, used: 2_000, remaining: 50_000 })!;
      expect(Math.abs(f.dailyRate - 350)).toBeLessThan(100);
    }
  });

  it('a new subject: no forecast until it has MIN_BASIS_DAYS complete days of usage; days before its first are not data', () => {
    clock.set(T0);
    expect(MIN_BASIS_DAYS).toBe(3);
    expect(forecast({ daily: [], used: 40, remaining: 960 })).toBeNull();
    expect(forecast({ daily: [...steady(0, 12), 40, 60], used: 150, remaining: 850 })).toBeNull();
    expect(forecast({ daily: steady(0), used: 0, remaining: 1_000 })).toBeNull();
    const third = forecast({ daily: [...steady(0, 11), 40, 60, 50], used: 200, remaining: 800 })!;
    expect(third.basisDays).toBe(3);
    // Three days around 50 a day, not eleven zero days dragging the pace down.
    expect(Math.abs(third.dailyRate - 55)).toBeLessThan(15);
  });

  it('at a period boundary: the previous period gives the pace, the new period starts from what it has used', () => {
    const start = periodAt(T0).end; // the 1st of next month, 00:00
    clock.set(start + 2 * HOUR);
    const early = forecast({ daily: steady(100), used: 10, remaining: 3_490 })!;
    const period = periodAt(clock.now());
    expect(period.start).toBe(start);
    expect(early.projectedUsed).toBe(Math.round(10 + 100 * daysLeft(period, clock.now())));
    expect(early.limitReachedAt).toBeNull();
    // An hour before the end: the pace adds an hour's usage, and the budget is what is left.
    clock.set(period.end - HOUR);
    const late = forecast({ daily: steady(100), used: 2_900, remaining: 100 })!;
    expect(late.projectedUsed).toBe(2_904);
    expect(late.dailyBudget).toBe(2_400);
    expect(late.limitReachedAt).toBeNull();
    // A minute before the end at a pace that runs out within it.
    clock.set(period.end - 60_000);
    expect(forecast({ daily: steady(14_400), used: 100, remaining: 5 })!.limitReachedAt).toBe(period.end - 60_000 + 30_000);
  });

  it('after a reset mid-period: usage starts again from 0 at the same pace', () => {
    clock.set(T0);
    const before = forecast({ daily: steady(100), used: 950, remaining: 50 })!;
    // The reset zeroed the counter; usage per day leaves resets out, so the pace is unchanged.
    const after = forecast({ daily: steady(100), used: 0, remaining: 5_000 })!;
    expect(after.dailyRate).toBe(before.dailyRate);
    expect(before.projectedUsed - after.projectedUsed).toBe(950);
    expect(before.limitReachedAt).toBe(clock.now() + 12 * HOUR);
    expect(after.limitReachedAt).toBeNull();
  });

  it('never for an unlimited counter', () => {
    clock.set(T0);
    expect(forecast({ daily: steady(1_000), used: 10_000, remaining: null })).toBeNull();
  });

  it('a falling pace never projects below what is used', () => {
    clock.set(T0);
    const falling = forecast({ daily: Array.from({ length: 14 }, (_, i) => 130 - 10 * i), used: 1_000, remaining: 1_000 })!;
    expect(falling.dailyRate).toBe(0);
    expect(falling.projectedUsed).toBe(1_000);
  });

  it('follows a growing trend only as far ahead as the fitted days reach, then holds it', () => {
    clock.set(T0 - 12 * HOUR); // 00:00
    const growing = Array.from({ length: 14 }, (_, i) => 10 * (i + 1)); // 10, 20, ..., 140: the line is 10x + 5
    const f = forecast({ daily: growing, used: 0, remaining: 1_000_000_000 })!;
    expect(f.dailyRate).toBe(145); // at x = 14, today's start
    // From today (x = 14) to x = 28 the line rises to 285, then stays there.
    const period = periodAt(clock.now());
    const rising = ((145 + 285) / 2) * 14;
    const flat = 285 * (daysLeft(period, clock.now()) - 14);
    expect(Math.abs(f.projectedUsed - (rising + Math.max(0, flat)))).toBeLessThan(1);
  });

  it('a counter already used up: no limit date (it has been reached), 100 % or more, no budget', () => {
    clock.set(T0);
    const f = forecast({ daily: steady(100), used: 1_000, remaining: 0 })!;
    expect(f.limitReachedAt).toBeNull();
    expect(f.projectedPercent).toBeGreaterThanOrEqual(100);
    expect(f.dailyBudget).toBe(0);
  });
});
