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

  it('adds nothing when no limit applies', () => {
    expect(rateLimitHeaders(null, [], 0)).toEqual({});
  });
});
