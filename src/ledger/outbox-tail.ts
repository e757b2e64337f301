import type { Logger } from 'pino';
import { decodeLedgerEvent, type LedgerEvent } from './ledger-event.js';
import type { KeySchema } from '../redis/keys.js';
import type { RedisClient } from '../redis/client.js';
import { readAfter, redisTimeMs } from '../redis/outbox-stream.js';

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

/** The connections of a running tail, one per group of streams it reads. */
interface Session {
  connections: RedisClient[];
}

/**
 * One tail of every partition's outbox stream per gateway process, shared by every
 * dashboard feed listener. It reads with plain XREAD (never a consumer group, which would
 * take entries from the worker's flusher), so it sees the events of every gateway and of
 * the worker, on a connection of its own (a blocking read would stall any other command).
 * It runs only while someone listens: the first listener connects it, the last one leaving
 * disconnects it.
 *
 * On a Cluster one XREAD cannot span partitions (each has a slot of its own), so there each
 * partition gets a blocking reader and connection of its own while someone listens: polling
 * instead would lose most entries to the flusher.
 *
 * Best effort, as a live view should be: entries the flusher deletes before they are read
 * (it deletes right after writing them to Postgres) are not seen.
 */
export class OutboxTail {
  private readonly listeners = new Set<TailListener>();
  /** The streams each connection reads: all of them on one, or one each on a Cluster. */
  private readonly groups: string[][];
  /** The running tail; undefined while nobody listens. */
  private session: Session | undefined;
  /** Whether the running tail has fixed where it reads from (listeners joining now are ready at once). */
  private reading = false;
  private closed = false;

  constructor(
    private readonly connect: () => RedisClient,
    keys: KeySchema,
    private readonly logger: Logger,
    cluster = false,
  ) {
    const streams = Array.from({ length: keys.partitions }, (_, p) => keys.outbox(p));
    this.groups = cluster ? streams.map((s) => [s]) : [streams];
  }

  /** Starts receiving events; returns the function that stops. */
  subscribe(listener: TailListener): () => void {
    if (this.closed) {
      listener.closed();
      return () => {};
    }
    this.listeners.add(listener);
    if (this.reading) listener.ready();
    if (!this.session) {
      const session: Session = (this.session = { connections: this.groups.map(() => this.connect()) });
      // They reconnect by themselves; the readers report reads that fail meanwhile.
      for (const redis of session.connections) redis.on('error', () => {});
      void this.run(session);
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
    // Disconnecting rejects the pending XREADs, which ends the readers.
    for (const redis of this.session?.connections ?? []) redis.disconnect();
    this.session = undefined;
    this.reading = false;
  }

  private async run(session: Session): Promise<void> {
    const active = () => this.session === session;
    let start: string | undefined;
    while (start === undefined) {
      try {
        start = await this.startId(session.connections[0]!);
      } catch (err) {
        if (!active()) return;
        await this.failed(err);
      }
    }
    if (!active()) return;
    this.reading = true;
    for (const listener of this.listeners) listener.ready();
    await Promise.all(session.connections.map((redis, i) => this.read(redis, this.groups[i]!, start, active)));
  }

  private async read(redis: RedisClient, streams: string[], start: string, active: () => boolean): Promise<void> {
    const cursors = streams.map(() => start);
    while (active()) {
      try {
        const reply = await readAfter(redis, streams, cursors, BATCH, BLOCK_MS);
        if (!active()) return;
        for (const [stream, entries] of reply) {
          const index = streams.indexOf(stream);
          for (const [id, fields] of entries) {
            cursors[index] = id;
            this.deliver(id, fields);
          }
        }
      } catch (err) {
        if (!active()) return;
        await this.failed(err);
      }
    }
  }

  private async failed(err: unknown): Promise<void> {
    this.logger.warn({ err: (err as Error).message }, 'dashboard feed: reading the outbox failed; retrying');
    await new Promise((resolve) => setTimeout(resolve, RETRY_MS).unref());
  }

  /**
   * Where every stream's reading starts: like `$` (only what is added from now on), but one
   * fixed id from Redis's clock, kept until a stream has entries. With `$` on every call, what
   * a stream that had nothing yet received between two reads would be missed. On a Cluster
   * this is one node's clock, taken as every node's (NTP keeps them within milliseconds).
   */
  private async startId(redis: RedisClient): Promise<string> {
    return `${(await redisTimeMs(redis)) - 1}-0`;
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
