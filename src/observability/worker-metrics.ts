import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { DeadLetter } from '../ledger/dead-letters.js';
import type { DeadLetterObserver } from '../ledger/isolating-writer.js';
import type { LedgerEvent } from '../ledger/ledger-event.js';
import type { FlushObserver } from '../ledger/outbox-flusher.js';
import type { OutboxState } from '../redis/outbox-stream.js';
import type { Drift } from '../ledger/reconciler.js';

/** The worker's Prometheus metrics, on a registry of its own. */
export class WorkerMetrics implements FlushObserver, DeadLetterObserver {
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

  readonly deadLetters = new Counter({
    name: 'quotagate_ledger_dead_letters_total',
    help: 'Events the ledger refused, set aside as dead letters (sanitised: in the ledger with U+FFFD for unstorable text; parked: waiting for a replay).',
    labelNames: ['state'] as const,
    registers: [this.registry],
  });

  readonly jobFailures = new Counter({
    name: 'quotagate_worker_job_failures_total',
    help: 'Worker jobs that failed (their work is retried by the next run).',
    labelNames: ['job'] as const,
    registers: [this.registry],
  });

  readonly drifts = new Counter({
    name: 'quotagate_reconciliation_drifts_total',
    help: 'Counters where reconciliation found Redis and the ledger disagreeing (repaired: Redis was behind and was raised; reported: Redis was ahead).',
    labelNames: ['metric', 'action'] as const,
    registers: [this.registry],
  });

  readonly driftUnits = new Counter({
    name: 'quotagate_reconciliation_drift_units_total',
    help: 'Sum of |Redis - ledger| over the drifts reconciliation found.',
    labelNames: ['metric', 'action'] as const,
    registers: [this.registry],
  });

  readonly outboxLength: Gauge<'partition'>;
  readonly outboxLag: Gauge<'partition'>;

  /** `outboxes` reads every partition's stream (at scrape time, so idle workers report too). */
  constructor(outboxes: () => Promise<OutboxState[]>, partitions: number) {
    // Both outbox gauges are collected at once in a scrape: they share one read of Redis.
    let reading: Promise<OutboxState[] | null> | undefined;
    const states = () =>
      (reading ??= outboxes()
        .catch(() => null)
        .finally(() => (reading = undefined)));
    // Redis unreachable: NaN, so a scrape shows "unknown" rather than a stale or zero value.
    const gauge = (name: string, help: string, value: (s: OutboxState) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['partition'] as const,
        registers: [this.registry],
        async collect() {
          const read = await states();
          for (let p = 0; p < partitions; p++) {
            const s = read?.[p];
            this.set({ partition: String(p) }, s ? value(s) : NaN);
          }
        },
      });
    this.outboxLength = gauge('quotagate_outbox_length', 'Entries in an outbox stream not yet flushed to the ledger.', (s) => s.length);
    this.outboxLag = gauge('quotagate_outbox_lag_seconds', 'Age of the oldest entry of an outbox stream not yet flushed to the ledger (0 when empty).', (s) => s.lagMs / 1000);
    collectDefaultMetrics({ register: this.registry, prefix: 'quotagate_worker_process_' });
  }

  committed(_partition: number, events: readonly LedgerEvent[], fresh: readonly LedgerEvent[], now: number): void {
    this.flushBatch.observe(events.length);
    this.flushed.inc(fresh.length);
    for (const e of events) this.ledgerLag.observe(Math.max(0, now - e.occurredAt) / 1000);
  }

  deadLettered(letter: DeadLetter): void {
    this.deadLetters.inc({ state: letter.state });
  }

  reconciled(drifts: readonly Drift[]): void {
    for (const d of drifts) {
      this.drifts.inc({ metric: d.metric, action: d.action });
      this.driftUnits.inc({ metric: d.metric, action: d.action }, Math.abs(d.redisValue - d.ledgerValue));
    }
  }
}
