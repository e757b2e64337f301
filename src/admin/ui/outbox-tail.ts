import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { decodeLedgerEvent, type LedgerEvent } from '../../ledger/ledger-event.js';
import type { KeySchema } from '../../quota/keys.js';

/** Longest XREAD wait; a shorter one only costs more idle round trips. */
const BLOCK_MS = 5_000;
/** Entries per stream per XREAD. */
const BATCH = 500;
/** Pause after a failed XREAD before the next (a reconnect is already under way). */
const RETRY_MS = 1_000;

export interface TailListener {
  /** Reading has started: every event from now on is delivered (called once, before any event). */
  ready(): void;
  event(e: LedgerEvent): void;
  /** The tail was closed (the gateway is shutting down): end the listener's stream. */
  closed(): void;
}

/**
 * One tail of every partition's outbox stream per gateway process, shared by every
 * dashboard feed listener. It reads with plain XREAD (never a consumer group, which would
 * take entries from the worker's flusher), so it sees the events of every gateway and of
 * the worker, on a connection of its own (a blocking read would stall any other command).
 * It runs only while someone listens: the first listener connects it, the last one leaving
 * disconnects it.
 *
 * Best effort, as a live view should be: entries the flusher deletes before they are read
 * (it deletes right after writing them to Postgres) are not seen.
 */
export class OutboxTail {
  private readonly listeners = new Set<TailListener>();
  private readonly streams: string[];
  /** The connection of the running tail; undefined while nobody listens. */
  private redis: Redis | undefined;
  /** Whether the running tail has fixed where it reads from (listeners joining now are ready at once). */
  private reading = false;
  private closed = false;

  constructor(
    private readonly connect: () => Redis,
    keys: KeySchema,
    private readonly logger: Logger,
  ) {
    this.streams = Array.from({ length: keys.partitions }, (_, p) => keys.outbox(p));
  }

  /** Starts receiving events; returns the function that stops. */
  subscribe(listener: TailListener): () => void {
    if (this.closed) {
      listener.closed();
      return () => {};
    }
    this.listeners.add(listener);
    if (this.reading) listener.ready();
    if (!this.redis) {
      const redis = (this.redis = this.connect());
      // It reconnects by itself; run() reports reads that fail meanwhile.
      redis.on('error', () => {});
      void this.run(redis);
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.stop();
    };
  }

  get listening(): number {
    return this.listeners.size;
  }

  /** Ends every listener and the tail, for good (gateway shutdown). */
  close(): void {
    this.closed = true;
    for (const listener of this.listeners) listener.closed();
    this.listeners.clear();
    this.stop();
  }

  private stop(): void {
    // Disconnecting rejects the pending XREAD, which ends run().
    this.redis?.disconnect();
    this.redis = undefined;
    this.reading = false;
  }

  private async run(redis: Redis): Promise<void> {
    const active = () => this.redis === redis;
    let cursors: string[] | undefined;
    while (active()) {
      try {
        if (!cursors) {
          cursors = await this.startCursors(redis);
          if (!active()) return;
          this.reading = true;
          for (const listener of this.listeners) listener.ready();
        }
        const reply = await redis.xread('COUNT', BATCH, 'BLOCK', BLOCK_MS, 'STREAMS', ...this.streams, ...cursors);
        if (!active()) return;
        for (const [stream, entries] of reply ?? []) {
          const index = this.streams.indexOf(stream);
          for (const [id, fields] of entries) {
            cursors[index] = id;
            this.deliver(id, fields);
          }
        }
      } catch (err) {
        if (!active()) return;
        this.logger.warn({ err: (err as Error).message }, 'dashboard feed: reading the outbox failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS).unref());
      }
    }
  }

  /**
   * Where each stream's reading starts: like `$` (only what is added from now on), but one
   * fixed id from Redis's clock, kept until a stream has entries. With `$` on every call, what
   * a stream that had nothing yet received between two reads would be missed.
   */
  private async startCursors(redis: Redis): Promise<string[]> {
    const [seconds, micros] = await redis.time();
    const start = `${Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) - 1}-0`;
    return this.streams.map(() => start);
  }

  private deliver(id: string, fields: string[]): void {
    let event: LedgerEvent;
    try {
      event = decodeLedgerEvent(id, fields);
    } catch {
      // Not an event of ours (MalformedEntryError): the flusher reports it; the feed leaves it out.
      return;
    }
    for (const listener of this.listeners) listener.event(event);
  }
}
