import type { MetricUsage, RateState } from '../quota/types.js';

/**
 * The IETF RateLimit-Policy and RateLimit fields (draft-ietf-httpapi-ratelimit-headers):
 * one policy for the request rate and one per limited metric the request costs, e.g.
 *   RateLimit-Policy: "rate";q=10;w=1, "ai_generations";q=100;w=2592000
 *   RateLimit: "rate";r=9;t=1, "ai_generations";r=99;t=1814400
 * Gauges have no window; their policy carries only the quota. A counter's windows (minute,
 * hour, day) are policies of their own, named `<metric>/<window>`:
 *   RateLimit-Policy: "ai_tokens";q=1000000;w=2592000, "ai_tokens/minute";q=20000;w=60
 */
export function rateLimitHeaders(rate: RateState | null, metrics: readonly MetricUsage[], now: number): Record<string, string> {
  const policies: string[] = [];
  const states: string[] = [];
  if (rate) {
    policies.push(`"rate";q=${rate.limit};w=${Math.max(1, Math.round(rate.limit / rate.rps))}`);
    states.push(`"rate";r=${rate.remaining};t=${Math.ceil(rate.resetMs / 1000)}`);
  }
  for (const m of metrics) {
    if (m.limit === null) continue;
    if (m.periodStart !== null && m.resetsAt !== null) {
      const window = Math.round((m.resetsAt - m.periodStart) / 1000);
      policies.push(`"${m.metric}";q=${m.limit};w=${window}`);
      states.push(`"${m.metric}";r=${m.remaining};t=${Math.max(0, Math.ceil((m.resetsAt - now) / 1000))}`);
    } else {
      policies.push(`"${m.metric}";q=${m.limit}`);
      states.push(`"${m.metric}";r=${m.remaining}`);
    }
  }
  for (const m of metrics) {
    for (const w of m.windows ?? []) {
      policies.push(`"${m.metric}/${w.window}";q=${w.limit};w=${Math.round((w.resetsAt - w.windowStart) / 1000)}`);
      states.push(`"${m.metric}/${w.window}";r=${w.remaining};t=${Math.max(0, Math.ceil((w.resetsAt - now) / 1000))}`);
    }
  }
  if (policies.length === 0) return {};
  return { 'ratelimit-policy': policies.join(', '), ratelimit: states.join(', ') };
}
