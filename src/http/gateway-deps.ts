import type { Logger } from 'pino';
import type { AdminDeps } from '../admin/admin-deps.js';
import type { Authenticator } from '../auth/authenticator.js';
import type { Policy } from '../config/policy.js';
import type { Clock } from '../lib/clock.js';
import type { Metrics } from '../observability/metrics.js';
import type { Settlements } from '../proxy/settlements.js';
import type { UpstreamClient } from '../proxy/upstream-client.js';
import type { QuotaEngine } from '../quota/engine.js';

export interface GatewaySettings {
  maxBodyBytes: number;
  idempotencyMaxResponseBytes: number;
  upgradeUrl: string;
  /** Default hold lifetime (reservations); a proxied request's hold outlives its route timeout. */
  holdTtlMs: number;
}

/** What answers readiness: each dependency's state. */
export type ReadinessCheck = () => Promise<Record<string, boolean>>;

/** Everything the gateway's HTTP layer uses, built once at start (see src/gateway/gateway.ts). */
export interface GatewayDeps {
  policy: Policy;
  engine: QuotaEngine;
  authenticator: Authenticator;
  upstream: UpstreamClient;
  settlements: Settlements;
  metrics: Metrics;
  logger: Logger;
  clock: Clock;
  settings: GatewaySettings;
  readiness: ReadinessCheck;
  /** The admin API's and billing webhooks' stores, queue and secrets. */
  admin: AdminDeps;
}
