import type { Logger } from 'pino';
import type { Clock } from '../lib/clock.js';
import type { RedisClient } from '../redis/client.js';
import type { KeySchema } from '../redis/keys.js';
import { claimFrom, claimIdle, createGroup, groupConsumers, readGroup, type StreamEntry } from '../redis/outbox-stream.js';
import { ackOutboxCall } from '../redis/scripts/ack-outbox.js';
import { dropConsumerCall } from '../redis/scripts/drop-consumer.js';
import type { Scripts } from '../redis/scripts/registry.js';
import { decodeLedgerEvent, MalformedEntryError, type LedgerEvent } from './ledger-event.js';
import type { LedgerWriter } from './ledger-writer.js';

/** The consumer group every flusher reads the outbox streams in. */
export const FLUSH_GROUP = 'flush';

export interface FlusherOptions {
  /** Entries read and written per transaction. */
  batchSize: number;
  /** An entry pending this long on another consumer is taken over (that worker is presumed dead). */
  claimIdleMs: number;
}

export interface FlushObserver {
  /** A batch committed: every event in it, those new to the ledger, and the commit time (ms). */
  committed(partition: number, events: readonly LedgerEvent[], fresh: readonly LedgerEvent[], now: number): void;
}

/**
 * Drains a partition's outbox stream into the ledger. Entries are read through a consumer
 * group, written to Postgres in one transaction per batch, and acknowledged and trimmed
 * from the stream only after the commit (lua/ack-outbox.lua): a crash at any point leaves
 * them pending, to be read again by this consumer or claimed by another, and the writer
 * ignores what was already stored.
 */
export class OutboxFlusher {
  private readonly groups = new Set<number>();

  constructor(
    private readonly deps: {
      redis: RedisClient;
      /** Runs lua/ack-outbox.lua on `redis`. */
      scripts: Scripts;
      keys: KeySchema;
      /** A LedgerWriter, or the IsolatingWriter around one that sets refused events aside. */
      writer: Pick<LedgerWriter, 'write'>;
      /** This process's consumer name; unique per live process. */
      consumer: string;
      /** Whether the worker of another consumer still runs (its heartbeat). */
      liveness: { isAlive(consumer: string): Promise<boolean> };
      options: FlusherOptions;
      clock: Clock;
      logger: Logger;
      /** Told about every committed batch (metrics, threshold notifications). */
      observers: readonly FlushObserver[];
    },
  ) {}

  /** Flushes until a read finds less than a full batch or `budgetMs` has passed; returns the events written. */
  async drain(partition: number, budgetMs: number): Promise<number> {
    await this.ensureGroup(partition);
    const deadline = this.deps.clock.now() + budgetMs;
    let written = 0;
    try {
      // Own entries first (a write that failed last time), then a dead consumer's, then new ones.
      for (let n = await this.round(partition, '0'); n > 0; n = await this.round(partition, '0')) written += n;
      written += await this.takeOverStopped(partition);
      written += await this.claimAbandoned(partition);
      while (this.deps.clock.now() < deadline) {
        const n = await this.round(partition, '>');
        written += n;
        // Caught up: free the job slot for another partition rather than chase the stream
        // in tiny batches (the next scheduled run comes within QG_FLUSH_INTERVAL_MS).
        if (n < this.deps.options.batchSize) break;
      }
    } catch (err) {
      // The stream or its group vanished (Redis restarted empty): recreate it next time.
      if (/NOGROUP/.test(String((err as Error).message))) this.groups.delete(partition);
      throw err;
    }
    return written;
  }

  private async ensureGroup(partition: number): Promise<void> {
    if (this.groups.has(partition)) return;
    await createGroup(this.deps.redis, this.deps.keys.outbox(partition), FLUSH_GROUP);
    this.groups.add(partition);
  }

  /** One batch read with XREADGROUP from `from` ('0' = own pending, '>' = new). */
  private async round(partition: number, from: '0' | '>'): Promise<number> {
    const { redis, consumer, options } = this.deps;
    const entries = await readGroup(redis, this.deps.keys.outbox(partition), FLUSH_GROUP, consumer, options.batchSize, from);
    return entries.length === 0 ? 0 : this.flush(partition, entries);
  }

  /**
   * Every consumer of the group whose worker has no heartbeat (killed, or stopped): its
   * pending entries are taken over and flushed at once, then it is removed from the group.
   */
  private async takeOverStopped(partition: number): Promise<number> {
    const { redis, consumer, options, liveness, logger } = this.deps;
    const key = this.deps.keys.outbox(partition);
    let written = 0;
    for (const other of await groupConsumers(redis, key, FLUSH_GROUP)) {
      if (other.name === consumer || (await liveness.isAlive(other.name))) continue;
      let taken = 0;
      for (let entries = await claimFrom(redis, key, FLUSH_GROUP, other.name, consumer, options.batchSize); entries.length > 0;) {
        taken += entries.length;
        written += await this.flush(partition, entries);
        entries = await claimFrom(redis, key, FLUSH_GROUP, other.name, consumer, options.batchSize);
      }
      if (taken > 0) logger.warn({ partition, entries: taken, from: other.name }, 'took over the outbox entries of a stopped worker');
      await this.deps.scripts.run(dropConsumerCall(key, FLUSH_GROUP, other.name));
    }
    return written;
  }

  /** Entries pending for QG_FLUSH_CLAIM_IDLE_MS on a consumer that looks alive (a stuck worker). */
  private async claimAbandoned(partition: number): Promise<number> {
    const { redis, consumer, options } = this.deps;
    const key = this.deps.keys.outbox(partition);
    let written = 0;
    let cursor = '0-0';
    do {
      const { next, entries } = await claimIdle(redis, key, FLUSH_GROUP, consumer, options.claimIdleMs, cursor, options.batchSize);
      if (entries.length > 0) {
        this.deps.logger.warn({ partition, entries: entries.length }, 'claimed outbox entries abandoned by another worker');
        written += await this.flush(partition, entries);
      }
      cursor = next;
    } while (cursor !== '0-0');
    return written;
  }

  private async flush(partition: number, entries: StreamEntry[]): Promise<number> {
    const events: LedgerEvent[] = [];
    for (const [id, fields] of entries) {
      // A pending entry removed from the stream (by hand; the flusher never removes one) comes back without fields: only its ack is left.
      if (!fields) continue;
      try {
        events.push(decodeLedgerEvent(id, fields));
      } catch (err) {
        if (!(err instanceof MalformedEntryError)) throw err;
        this.deps.logger.error({ partition, entry: id, fields, err: err.message }, 'dropping an outbox entry that is not a ledger event');
      }
    }
    const fresh = await this.deps.writer.write(events);
    // Malformed entries too: reported above, they must not come back and block the partition.
    await this.deps.scripts.run(
      ackOutboxCall(
        this.deps.keys.outbox(partition),
        FLUSH_GROUP,
        entries.map(([id]) => id),
      ),
    );
    const now = this.deps.clock.now();
    for (const observer of this.deps.observers) observer.committed(partition, events, fresh, now);
    return events.length;
  }
}
