import { describe, expect, it } from 'vitest';
import { rateLimitHeaders } from './rate-limit-headers.js';

describe('rateLimitHeaders', () => {
  it('lists the request rate and each limited metric with its period as window', () => {
    const start = Date.parse('2026-11-01T00:00:00Z');
    const end = Date.parse('2026-12-01T00:00:00Z');
    const headers = rateLimitHeaders(
      { limit: 10, rps: 10, remaining: 9, resetMs: 100 },
      [
        { metric: 'ai_generations', kind: 'counter', limit: 100, used: 1, remaining: 99, grantBalance: 0, periodStart: start, resetsAt: end },
        { metric: 'ai_tokens', kind: 'counter', limit: null, used: 5, remaining: null, grantBalance: 0, periodStart: start, resetsAt: end },
        { metric: 'projects', kind: 'gauge', limit: 3, used: 1, remaining: 2, grantBalance: 0, periodStart: null, resetsAt: null },
      ],
      end - 86_400_000,
    );
    expect(headers['ratelimit-policy']).toBe('"rate";q=10;w=1, "ai_generations";q=100;w=2592000, "projects";q=3');
    expect(headers.ratelimit).toBe('"rate";r=9;t=1, "ai_generations";r=99;t=86400, "projects";r=2');
  });

  it('reports each window of a counter as a policy of its own, after the periods, even when the period is unlimited', () => {
    const minute = Date.parse('2026-11-10T12:00:00Z');
    const windows = [
      { window: 'minute' as const, limit: 20_000, used: 5_000, remaining: 15_000, windowStart: minute, resetsAt: minute + 60_000 },
      { window: 'day' as const, limit: 900_000, used: 5_000, remaining: 895_000, windowStart: Date.parse('2026-11-10T00:00:00Z'), resetsAt: Date.parse('2026-11-11T00:00:00Z') },
    ];
    const headers = rateLimitHeaders(
      null,
      [{ metric: 'ai_tokens', kind: 'counter', limit: null, used: 5, remaining: null, grantBalance: 0, periodStart: 0, resetsAt: 1, windows }],
      minute + 20_000,
    );
    expect(headers['ratelimit-policy']).toBe('"ai_tokens/minute";q=20000;w=60, "ai_tokens/day";q=900000;w=86400');
    expect(headers.ratelimit).toBe('"ai_tokens/minute";r=15000;t=40, "ai_tokens/day";r=895000;t=43180');
  });

  it('adds nothing when no limit applies', () => {
    expect(rateLimitHeaders(null, [], 0)).toEqual({});
  });
});
