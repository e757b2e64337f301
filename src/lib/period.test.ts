import { describe, expect, it } from 'vitest';
import { addMonths, periodAt, periodSeconds } from './period.js';

const utc = (s: string) => Date.parse(s);
const iso = (ms: number) => new Date(ms).toISOString();

describe('periodAt', () => {
  it('uses calendar months in UTC without an anchor', () => {
    const p = periodAt(utc('2026-02-14T12:00:00Z'));
    expect(iso(p.start)).toBe('2026-02-01T00:00:00.000Z');
    expect(iso(p.end)).toBe('2026-03-01T00:00:00.000Z');
    expect(periodSeconds(p)).toBe(28 * 86_400);
  });

  it('includes the start instant and excludes the end instant', () => {
    expect(iso(periodAt(utc('2026-03-01T00:00:00Z')).start)).toBe('2026-03-01T00:00:00.000Z');
    expect(iso(periodAt(utc('2026-02-28T23:59:59.999Z')).start)).toBe('2026-02-01T00:00:00.000Z');
  });

  it('clamps an anchor on the 31st to the end of shorter months, measured from the original day', () => {
    const anchor = utc('2026-01-31T09:30:00Z');
    expect(iso(periodAt(utc('2026-02-27T00:00:00Z'), anchor).start)).toBe('2026-01-31T09:30:00.000Z');
    const feb = periodAt(utc('2026-03-01T00:00:00Z'), anchor);
    expect(iso(feb.start)).toBe('2026-02-28T09:30:00.000Z');
    expect(iso(feb.end)).toBe('2026-03-31T09:30:00.000Z');
    expect(iso(periodAt(utc('2026-04-30T09:30:00Z'), anchor).start)).toBe('2026-04-30T09:30:00.000Z');
    expect(iso(periodAt(utc('2028-02-29T10:00:00Z'), anchor).start)).toBe('2028-02-29T09:30:00.000Z');
  });

  it('handles instants before the anchor (negative month offsets) and year boundaries', () => {
    const anchor = utc('2026-06-15T00:00:00Z');
    const p = periodAt(utc('2025-12-20T00:00:00Z'), anchor);
    expect(iso(p.start)).toBe('2025-12-15T00:00:00.000Z');
    expect(iso(p.end)).toBe('2026-01-15T00:00:00.000Z');
  });

  it('always returns a period containing the instant', () => {
    const anchors = [null, utc('2024-01-31T23:59:59Z'), utc('2023-08-29T05:00:00Z'), utc('2026-12-31T00:00:00Z')];
    for (const anchor of anchors) {
      for (let t = utc('2023-01-01T00:00:00Z'); t < utc('2029-01-01T00:00:00Z'); t += 86_400_000 * 3 + 3_600_000 * 7) {
        const p = periodAt(t, anchor);
        expect(p.start).toBeLessThanOrEqual(t);
        expect(p.end).toBeGreaterThan(t);
        expect(periodAt(p.end, anchor).start).toBe(p.end);
      }
    }
  });
});

describe('addMonths', () => {
  it('keeps the time of day and clamps the day', () => {
    expect(iso(addMonths(utc('2026-01-31T23:00:00Z'), 1))).toBe('2026-02-28T23:00:00.000Z');
    expect(iso(addMonths(utc('2026-01-31T23:00:00Z'), -2))).toBe('2025-11-30T23:00:00.000Z');
  });
});
