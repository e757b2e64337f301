import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The gateway's Prometheus metrics, on a registry of its own (so several apps in one
 * process, as in tests, never collide).
 */
export class Metrics {
  readonly registry = new Registry();

  readonly decisions = new Counter({
    name: 'quotagate_decisions_total',
    help: 'Decisions by route and outcome (allowed, denied_quota, denied_rate, denied_concurrency, replayed, idempotency_mismatch, idempotency_in_flight, fail_open, unavailable).',
    labelNames: ['route', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly shadowDenials = new Counter({
    name: 'quotagate_shadow_denials_total',
    help: 'Requests a shadow-mode route let through that enforcement would have denied.',
    labelNames: ['route', 'reason'] as const,
    registers: [this.registry],
  });

  readonly failOpen = new Counter({
    name: 'quotagate_fail_open_total',
    help: 'Requests passed without a decision because Redis was unreachable (when_redis_down: open).',
    labelNames: ['route'] as const,
    registers: [this.registry],
  });

  readonly decisionSeconds = new Histogram({
    name: 'quotagate_decision_seconds',
    help: 'Time to decide a request (the Redis script round trip, hydration included).',
    labelNames: ['route'] as const,
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });

  readonly upstreamSeconds = new Histogram({
    name: 'quotagate_upstream_seconds',
    help: 'Time from sending a request upstream to its response headers.',
    labelNames: ['route', 'status'] as const,
    buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60],
    registers: [this.registry],
  });

  readonly backendErrors = new Counter({
    name: 'quotagate_backend_errors_total',
    help: 'Errors talking to Redis or Postgres on the request path.',
    labelNames: ['backend'] as const,
    registers: [this.registry],
  });

  readonly settlementFailures = new Counter({
    name: 'quotagate_settlement_failures_total',
    help: 'Settlements, refunds or releases that failed after retries (their holds expire instead).',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'quotagate_process_' });
  }
}
