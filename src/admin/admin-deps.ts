import type { Queue } from 'bullmq';
import type { Pool } from 'pg';
import type { AuthInvalidation } from '../auth/auth-invalidation.js';
import type { KeyMirror } from '../auth/key-mirror.js';
import type { KeyStore } from '../auth/key-store.js';
import type { Provider } from '../billing/billing-change.js';
import type { LedgerWriter } from '../ledger/ledger-writer.js';
import type { GatewayDeps } from '../http/gateway-deps.js';
import type { SubjectStore } from '../subjects/subject-store.js';
import type { OutboxTail } from '../ledger/outbox-tail.js';
import type { JobData } from '../jobs/job.js';

/** What the admin API and the billing webhooks use beside the gateway's own dependencies. */
export interface AdminDeps {
  pool: Pool;
  subjects: SubjectStore;
  keys: KeyStore;
  /** Key records in Redis, read while Postgres cannot be reached. */
  keyMirror: KeyMirror;
  invalidation: AuthInvalidation;
  /** The worker's queue, for jobs run on demand (reconciliation). */
  jobs: Queue<JobData>;
  /** SHA-256 of ADMIN_TOKEN; null = the admin API is off. */
  adminTokenHash: Buffer | null;
  /** Each billing webhook's signing secrets (WEBHOOK_SECRET, STRIPE_WEBHOOK_SECRET, PADDLE_WEBHOOK_SECRET); null = that webhook is off. */
  webhookSecrets: Record<Provider, readonly string[] | null>;
  /** The flusher's writer, for replaying dead letters. */
  ledger: LedgerWriter;
  /** The dashboard's live feed: one shared tail of the outbox streams. */
  outboxTail: OutboxTail;
}

/** The gateway's dependencies with the admin side's: what the admin API, the dashboard and the billing webhooks take. */
export interface AdminRouteDeps extends GatewayDeps {
  /** The admin API's and billing webhooks' stores, queue and secrets. */
  admin: AdminDeps;
}
