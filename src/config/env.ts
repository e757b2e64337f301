import { z } from 'zod';
import { ConfigError, formatIssues } from './errors.js';

const int = (min: number, max: number) => z.coerce.number().int('must be a whole number').min(min).max(max);

/** One signing secret, or several separated by commas while a provider's secret is rotated. */
const webhookSecrets = z
  .string()
  .transform((v) => v.split(',').map((s) => s.trim()))
  .pipe(z.array(z.string().min(16, 'each secret must be at least 16 characters')).max(5, 'at most 5 secrets'));

/**
 * Environment variables: connections, secrets and operational knobs. Defaults are the
 * local services of a development machine; production sets them explicitly.
 */
export const envSchema = z
  .object({
    REDIS_URL: z.url().default('redis://127.0.0.1:6379'),
    /** REDIS_URL is a node of a Redis Cluster: every process discovers the others from it. */
    QG_REDIS_CLUSTER: z
      .enum(['true', 'false'], "must be 'true' or 'false'")
      .default('false')
      .transform((v) => v === 'true'),
    DATABASE_URL: z.url().default('postgres://postgres@127.0.0.1:5432/quotagate'),
    POLICY_FILE: z.string().min(1).default('config/policy.yaml'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** Prefix of every Redis key; lets several deployments (or test runs) share one Redis. */
    QG_KEY_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'must be 1–64 chars of [A-Za-z0-9_.:-]')
      .default('qg'),
    /** Outbox partitions (and hash-tag slots). Fixed per deployment; see README "Scaling". */
    QG_PARTITIONS: int(1, 4096).default(16),
    /** Upper bound on one Redis command; keeps `when_redis_down` answers fast. */
    QG_REDIS_COMMAND_TIMEOUT_MS: int(10, 60_000).default(250),
    /**
     * How long the end of a request (settle, refund, return of its hold, release) may wait to
     * go to Redis with the next decision, in one write (src/redis/ride-along.ts); 0 sends each
     * at once.
     */
    QG_SETTLE_WAIT_MS: int(0, 1_000).default(5),
    /** How long a decision whose reply never arrived can still be given back by its request id (the bound of a void). */
    QG_DECISION_VOID_WINDOW_SECONDS: int(5, 3_600).default(60),
    QG_IDEMPOTENCY_TTL_SECONDS: int(60, 30 * 86_400).default(86_400),
    QG_RESERVATION_TTL_SECONDS: int(1, 86_400).default(600),
    /** How long a counter outlives its period, so late settlements and reconciliation still see it. */
    QG_COUNTER_GRACE_SECONDS: int(60, 90 * 86_400).default(3 * 86_400),
    HOST: z.string().min(1).default('127.0.0.1'),
    PORT: int(0, 65_535).default(8080),
    /** Largest request body the gateway accepts (413 above). */
    QG_MAX_BODY_BYTES: int(1, 1024 * 1024 * 1024).default(10 * 1024 * 1024),
    /** Largest upstream response kept with an idempotency record for replays. */
    QG_IDEMPOTENCY_MAX_RESPONSE_BYTES: int(0, 64 * 1024 * 1024).default(1024 * 1024),
    /** Where a quota_exceeded answer points the user to buy more. */
    QG_UPGRADE_URL: z.url().default('https://example.com/billing/upgrade'),
    /** How long an authenticated API key is trusted without asking Postgres again. */
    QG_AUTH_CACHE_TTL_MS: int(0, 300_000).default(5_000),
    /**
     * How long after its last verification in Postgres an API key keeps working while
     * Postgres cannot be reached (read from its record mirrored in Redis).
     */
    QG_AUTH_STALE_SECONDS: int(0, 7 * 86_400).default(7_200),
    /** Outbox entries the worker writes to Postgres per transaction. */
    QG_FLUSH_BATCH_SIZE: int(1, 50_000).default(1_000),
    /** How often each outbox partition is flushed (a BullMQ job per partition). */
    QG_FLUSH_INTERVAL_MS: int(10, 60_000).default(200),
    /** After this long unacknowledged, another worker takes over a dead worker's outbox entries. */
    QG_FLUSH_CLAIM_IDLE_MS: int(100, 3_600_000).default(30_000),
    /** Jobs (partitions) one worker process runs at once. */
    QG_WORKER_CONCURRENCY: int(1, 256).default(4),
    /** Port of a worker process's Prometheus `/metrics` (on HOST); unset = none, 0 = any free port. */
    QG_WORKER_METRICS_PORT: int(0, 65_535).optional(),
    /** How often Redis is reconciled against the ledger. */
    QG_RECONCILE_INTERVAL_SECONDS: int(10, 86_400).default(600),
    /** Subjects with ledger activity within this window are reconciled. */
    QG_RECONCILE_ACTIVE_WINDOW_SECONDS: int(60, 90 * 86_400).default(86_400),
    /** Where notification webhooks are POSTed; unset = notifications are recorded, not sent. */
    QG_NOTIFY_URL: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
    /** HMAC-SHA256 key of the `quotagate-signature` header; required with QG_NOTIFY_URL. */
    QG_NOTIFY_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
    /** Bearer token of the admin API (compared by SHA-256 in constant time); unset = admin API refuses every request. */
    ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
    /** HMAC-SHA256 key that billing webhooks are signed with; unset = /webhooks/billing refuses every request. */
    WEBHOOK_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
    /** Stripe's endpoint signing secrets (whsec_…), comma-separated while rotating; unset = /webhooks/stripe refuses every request. */
    STRIPE_WEBHOOK_SECRET: webhookSecrets.optional(),
    /** Paddle's notification destination secret keys, comma-separated while rotating; unset = /webhooks/paddle refuses every request. */
    PADDLE_WEBHOOK_SECRET: webhookSecrets.optional(),
    /** HMAC-SHA256 key of browser usage tokens (POST /v1/usage-tokens); unset = no tokens are minted or accepted. */
    QG_USAGE_TOKEN_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
    /** Origins (comma-separated) whose pages may read /v1/usage and /v1/usage/stream with a usage token (CORS). */
    QG_CORS_ORIGINS: z
      .string()
      .transform((v) =>
        v
          .split(',')
          .map((o) => o.trim())
          .filter((o) => o !== ''),
      )
      .pipe(
        z.array(
          z.string().regex(/^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$|^https?:\/\/\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/, 'each origin must be scheme://host[:port], without a path or "*"'),
        ),
      )
      .optional(),
    /** Denials of one subject within one minute above which abuse is reported. */
    QG_ABUSE_DENIALS_PER_MINUTE: int(1, 1_000_000).default(60),
  })
  // Outgoing webhooks are always signed: a URL without a secret is a configuration error.
  .superRefine((env, ctx) => {
    // A Cluster has database 0 only; a URL naming another would be silently ignored.
    if (env.QG_REDIS_CLUSTER && URL.canParse(env.REDIS_URL) && !['', '/', '/0'].includes(new URL(env.REDIS_URL).pathname)) {
      ctx.addIssue({ code: 'custom', path: ['REDIS_URL'], message: 'must not name a database when QG_REDIS_CLUSTER is true (a Cluster has database 0 only)' });
    }
    if (env.QG_NOTIFY_URL !== undefined && env.QG_NOTIFY_SECRET === undefined) {
      ctx.addIssue({ code: 'custom', path: ['QG_NOTIFY_SECRET'], message: 'is required when QG_NOTIFY_URL is set (webhooks are always signed)' });
    }
  });

export type Env = z.output<typeof envSchema>;

/** Parses `source` (default: process.env); throws a ConfigError naming every bad key. */
export function loadEnv(source: Record<string, string | undefined> = process.env): Env {
  // Empty strings mean "unset" so `FOO= cmd` falls back to the default.
  const present = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) throw new ConfigError('environment', formatIssues(parsed.error.issues));
  return parsed.data;
}
