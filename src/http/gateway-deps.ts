import type { Logger } from 'pino';
import type { AdminDeps } from '../admin/admin-deps.js';
import type { UsageWatch } from '../api/usage-watch.js';
import type { UsageTokenReader } from '../auth/usage-token-reader.js';
import type { Authenticator } from '../auth/authenticator.js';
import type { Policy } from '../config/policy.js';
import type { UsageHistory } from '../history/usage-history.js';
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
  /** QG_USAGE_TOKEN_SECRET; null = usage tokens are off. */
  usageTokenSecret: string | null;
  /** QG_CORS_ORIGINS: the origins whose pages may read the usage endpoints. */
  corsOrigins: string[];
}

/** What answers readiness: each dependency's state. */
export type ReadinessCheck = () => Promise<Record<string, boolean>>;

/** Everything the gateway's HTTP layer uses, built once at start (see gateway/start.ts). */
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
  /** Usage per day and hour from the ledger's rollups, and forecasts. */
  history: UsageHistory;
  /** Verifies usage tokens and finds their subject; null when usage tokens are off. */
  usageTokens: UsageTokenReader | null;
  /** Change signals for the live usage streams. */
  usageWatch: UsageWatch;
  /** The admin API's and billing webhooks' stores, queue and secrets. */
  admin: AdminDeps;
}
