import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Decision } from '../quota/types.js';
import { backendOf } from './backend-error.js';

/**
 * The gateway's Prometheus metrics, on a registry of its own (so several apps in one
 * process, as in tests, never collide).
 */
export class Metrics {
  readonly registry = new Registry();

  readonly decisions = new Counter({
    name: 'quotagate_decisions_total',
    help: 'Decisions by route (api:consume, api:check and api:reserve for the decision API), outcome (allowed, denied_quota, denied_rate, denied_concurrency, replayed, idempotency_mismatch, idempotency_in_flight, fail_open, unavailable) and, on quota denials, the metric that ran out.',
    labelNames: ['route', 'metric', 'outcome'] as const,
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

  readonly voids = new Counter({
    name: 'quotagate_decision_voids_total',
    help: 'Voids of decisions whose reply never arrived, by outcome: voided (it had applied and was given back), not_applied, already_void, gave_up (the window closed first: it stays charged).',
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  readonly settlementFailures = new Counter({
    name: 'quotagate_settlement_failures_total',
    help: 'Settlements, refunds or releases that failed after retries (their holds expire instead).',
    registers: [this.registry],
  });

  readonly billingWebhooks = new Counter({
    name: 'quotagate_billing_webhooks_total',
    help: 'Billing webhook deliveries by provider (quotagate, stripe, paddle) and result: applied, unchanged, stale, blocked, ignored, duplicate, or the problem answered (unauthorized, invalid_request, not_found, backend_unavailable, error).',
    labelNames: ['provider', 'result'] as const,
    registers: [this.registry],
  });

  /** Registries served along with this one (see include()). */
  private readonly included: Registry[] = [];

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'quotagate_process_' });
  }

  /** Counts a decision the engine made on `route`. */
  decided(route: string, decision: Decision): void {
    if (decision.outcome !== 'denied') this.decisions.inc({ route, outcome: decision.outcome });
    else if (decision.reason === 'quota') this.decisions.inc({ route, metric: decision.metric, outcome: 'denied_quota' });
    else this.decisions.inc({ route, outcome: `denied_${decision.reason}` });
  }

  /** Counts an engine call that failed in Redis or (a hydration) in Postgres. */
  backendError(err: unknown): void {
    this.backendErrors.inc({ backend: backendOf(err) });
  }

  /**
   * Serves another registry's metrics with these: `quotagate start` runs the worker in the
   * gateway's process, and one scrape of the gateway's /metrics then covers both.
   */
  include(registry: Registry): void {
    this.included.push(registry);
  }

  /** The Prometheus text exposition of this registry and every included one. */
  exposition(): Promise<string> {
    return this.included.length === 0 ? this.registry.metrics() : Registry.merge([this.registry, ...this.included]).metrics();
  }
}
