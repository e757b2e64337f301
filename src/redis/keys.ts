/**
 * Every Redis key quotagate uses is built here.
 *
 * Subjects are spread over a fixed number of partitions. The hash tag is the partition, so
 * every key of a subject, and the partition's outbox stream, hold-deadline index and denial
 * tallies, sit in one Cluster slot: one script can touch them all atomically.
 *
 * Layout: `<prefix>:{p<n>}:<kind>:<subject>|<rest>`. Subject ids may contain `:`, never `|`,
 * so the `|` keeps user-supplied parts from colliding.
 */
export class KeySchema {
  /**
   * The subject whose key base was built last, and that base: a decision builds half a dozen
   * keys of one subject in a row, and hashing its id for each of them showed in profiles.
   */
  private lastSubject: string | undefined;
  private lastSubjectBase = '';

  constructor(
    readonly prefix: string,
    readonly partitions: number,
  ) {
    if (!Number.isInteger(partitions) || partitions < 1) throw new RangeError('partitions must be a whole number ≥ 1');
  }

  /** FNV-1a (32-bit) of the subject id: stable across processes, versions and restarts. */
  partitionOf(subjectId: string): number {
    let h = 0x811c9dc5;
    for (let i = 0; i < subjectId.length; i++) {
      h ^= subjectId.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
    return (h >>> 0) % this.partitions;
  }

  private base(partition: number): string {
    return `${this.prefix}:{p${partition}}`;
  }

  private subjectKey(kind: string, subjectId: string, rest: string): string {
    if (subjectId !== this.lastSubject) {
      this.lastSubjectBase = this.base(this.partitionOf(subjectId));
      this.lastSubject = subjectId;
    }
    return `${this.lastSubjectBase}:${kind}:${subjectId}|${rest}`;
  }

  /** Stream of ledger events not yet flushed to Postgres. */
  outbox(partition: number): string {
    return `${this.base(partition)}:outbox`;
  }

  /** Sorted set of `<subject>|<hold id>` scored by deadline, for the expiry job. */
  holdDeadlines(partition: number): string {
    return `${this.base(partition)}:holds`;
  }

  /**
   * A key no script ever writes: what a script's fixed KEYS carry in a place the call has no
   * use for (consume without a hold, an idempotency key or a refund record), so the call
   * builds no key it does not need and the slot stays the partition's.
   */
  unused(partition: number): string {
    return `${this.base(partition)}:unused`;
  }

  /**
   * Since when (a gateway's clock, ms) this partition's keys have been kept whole: written with
   * SET NX, so it is lost with them (a restart without persistence, a flush, a failed-over
   * Cluster master) and written again by the next gateway that finds it missing.
   */
  intactSince(partition: number): string {
    return `${this.base(partition)}:intact-since`;
  }

  /** Sorted set of subject → denials during the minute starting at `minuteStart` (ms). */
  denials(partition: number, minuteStart: number): string {
    return `${this.base(partition)}:denials:${minuteStart}`;
  }

  /** Counter metric: units used in the period starting at `periodStart` (ms). */
  counter(subjectId: string, metric: string, periodStart: number): string {
    return this.subjectKey('u', subjectId, `${metric}|${periodStart}`);
  }

  /** Counter metric in a fixed window (minute, hour, day) starting at `windowStart` (ms): a rate limit, not ledgered. */
  window(subjectId: string, metric: string, window: string, windowStart: number): string {
    return this.subjectKey('w', subjectId, `${metric}|${window}|${windowStart}`);
  }

  /** Gauge metric: the current level. */
  gauge(subjectId: string, metric: string): string {
    return this.subjectKey('g', subjectId, metric);
  }

  /** Hash of grant id → `<remaining>:<expires_at ms | 0>`, plus the `_h` hydrated marker. */
  grants(subjectId: string, metric: string): string {
    return this.subjectKey('gr', subjectId, metric);
  }

  /** GCRA theoretical arrival time for a rate class. */
  rate(subjectId: string, rateClass: string): string {
    return this.subjectKey('rl', subjectId, rateClass);
  }

  /** Sorted set of in-flight lease id → expiry (ms). */
  concurrency(subjectId: string): string {
    return this.subjectKey('cc', subjectId, '');
  }

  /** Idempotency record of one key, scoped to the subject. */
  idempotency(subjectId: string, idempotencyKey: string): string {
    return this.subjectKey('idem', subjectId, idempotencyKey);
  }

  /** A hold (reservation or refundable charge) awaiting settle or release. */
  hold(subjectId: string, holdId: string): string {
    return this.subjectKey('h', subjectId, holdId);
  }

  /** What refunding a charge taken outright needs (its grant draws), then its refunded mark. */
  refund(subjectId: string, requestId: string): string {
    return this.subjectKey('rf', subjectId, requestId);
  }

  /** The key that holds a metric's usage: per period for counters, one level for gauges. */
  usage(subjectId: string, metric: string, kind: 'counter' | 'gauge', periodStart: number): string {
    return kind === 'counter' ? this.counter(subjectId, metric, periodStart) : this.gauge(subjectId, metric);
  }

  /** A worker's liveness: present while the worker whose outbox consumer is `consumer` runs (it renews a short TTL). */
  workerHeartbeat(consumer: string): string {
    return `${this.prefix}:worker:${consumer}`;
  }

  /**
   * An API key's mirrored record (auth/key-mirror.ts), by the SHA-256 of the key
   * (base64url): outside any partition, since a key is looked up before its subject is known.
   */
  authKey(keyHash: string): string {
    return `${this.prefix}:auth:key:${keyHash}`;
  }

  /** A subject's mirrored record (plan, anchor, overrides, or deleted). */
  authSubject(subjectId: string): string {
    return `${this.prefix}:auth:subject:${subjectId}`;
  }

  /** Pattern matching every key of this deployment (for tests and tooling; never in the hot path). */
  pattern(): string {
    return `${this.prefix}:*`;
  }
}
