import type { ConsumerHeartbeat } from '../ledger/consumer-heartbeat.js';
import type { FlushObserver } from '../ledger/outbox-flusher.js';
import { IsolatingWriter, type DeadLetterObserver } from '../ledger/isolating-writer.js';
import { LedgerWriter } from '../ledger/ledger-writer.js';
import { OutboxFlusher } from '../ledger/outbox-flusher.js';
import type { JobKind, WorkerContext } from '../jobs/job.js';

/** Longest a flush job keeps draining before it lets the next scheduled run take over. */
const FLUSH_BUDGET_MS = 2_000;

/** One flush job per outbox partition, every QG_FLUSH_INTERVAL_MS. */
export function flushJob(
  ctx: WorkerContext,
  heartbeat: ConsumerHeartbeat,
  observers: FlushObserver[],
  deadLetterObservers: DeadLetterObserver[],
): JobKind & { flusher: OutboxFlusher } {
  const { env } = ctx;
  const flusher = new OutboxFlusher({
    redis: ctx.redis,
    scripts: ctx.scripts,
    keys: ctx.keys,
    // An event Postgres refuses is set aside (dead letters), never left to block its partition.
    writer: new IsolatingWriter(new LedgerWriter(ctx.pool, env.QG_IDEMPOTENCY_TTL_SECONDS * 1000), ctx.pool, ctx.logger, deadLetterObservers),
    // The heartbeat's name: what tells this worker's pending entries from a dead one's.
    consumer: heartbeat.consumer,
    liveness: heartbeat,
    options: { batchSize: env.QG_FLUSH_BATCH_SIZE, claimIdleMs: env.QG_FLUSH_CLAIM_IDLE_MS },
    clock: ctx.clock,
    logger: ctx.logger,
    observers,
  });
  return {
    name: 'flush',
    flusher,
    run: (data) => flusher.drain(Number(data.partition), FLUSH_BUDGET_MS),
    schedules: Array.from({ length: env.QG_PARTITIONS }, (_, p) => ({ id: `flush:${p}`, job: 'flush', everyMs: env.QG_FLUSH_INTERVAL_MS, data: { partition: p } })),
  };
}
