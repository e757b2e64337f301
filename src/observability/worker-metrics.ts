import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { LedgerEvent } from '../ledger/ledger-event.js';
import type { FlushObserver } from '../ledger/outbox-flusher.js';

/** The worker's Prometheus metrics, on a registry of its own. */
export class WorkerMetrics implements FlushObserver {
  readonly registry = new Registry();

  readonly ledgerLag = new Histogram({
    name: 'quotagate_ledger_lag_seconds',
    help: 'Time from a decision (its event written to the outbox) to its commit in the Postgres ledger.',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 60, 300],
    registers: [this.registry],
  });

  readonly flushBatch = new Histogram({
    name: 'quotagate_flush_batch_size',
    help: 'Outbox entries per committed flush batch.',
    buckets: [1, 10, 50, 100, 250, 500, 1000, 2500, 5000],
    registers: [this.registry],
  });

  readonly flushed = new Counter({
    name: 'quotagate_ledger_events_total',
    help: 'Events committed to the ledger (duplicates of stored events excluded).',
    registers: [this.registry],
  });

  readonly jobFailures = new Counter({
    name: 'quotagate_worker_job_failures_total',
    help: 'Worker jobs that failed (their work is retried by the next run).',
    labelNames: ['job'] as const,
    registers: [this.registry],
  });

  readonly outboxLength: Gauge<'partition'>;

  constructor(outboxLength: (partition: number) => Promise<number>, partitions: number) {
    this.outboxLength = new Gauge({
      name: 'quotagate_outbox_length',
      help: 'Entries in an outbox stream not yet flushed to the ledger.',
      labelNames: ['partition'] as const,
      registers: [this.registry],
      async collect() {
        const lengths = await Promise.all(Array.from({ length: partitions }, (_, p) => outboxLength(p).catch(() => NaN)));
        lengths.forEach((n, p) => this.set({ partition: String(p) }, n));
      },
    });
    collectDefaultMetrics({ register: this.registry, prefix: 'quotagate_worker_process_' });
  }

  committed(_partition: number, events: readonly LedgerEvent[], fresh: readonly LedgerEvent[], now: number): void {
    this.flushBatch.observe(events.length);
    this.flushed.inc(fresh.length);
    for (const e of events) this.ledgerLag.observe(Math.max(0, now - e.occurredAt) / 1000);
  }
}
