import type { Logger } from 'pino';
import type { UsageWatch } from '../ledger/usage-watch.js';
import type { UsageTokenReader } from '../auth/usage-token-reader.js';
import type { Authenticator } from '../auth/authenticator.js';
import type { Policy } from '../config/policy.js';
import type { UsageHistory } from '../history/usage-history.js';
import type { Clock } from '../lib/clock.js';
import type { Metrics } from '../observability/metrics.js';
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

/**
 * What every route of the gateway may use, built once at start (src/gateway/gateway.ts).
 * A feature that needs more declares it beside itself (the proxy's ProxyDeps, the admin
 * side's AdminRouteDeps), so this layer knows none of them.
 */
export interface GatewayDeps {
  policy: Policy;
  engine: QuotaEngine;
  authenticator: Authenticator;
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
}
