import type { RedisClient } from '../redis/client.js';
import type { KeySchema } from '../redis/keys.js';

/** How often a worker renews its heartbeat, and how long one lasts without renewal. */
const BEAT_EVERY_MS = 1_000;
export const HEARTBEAT_TTL_MS = 3_000;

/**
 * A worker's sign of life, by its outbox consumer name: a key renewed every second with a
 * 3 s TTL (wall time, Redis's clock). Another worker that finds a consumer of the outbox
 * groups without one takes over its pending entries at once and removes it from the groups,
 * instead of waiting QG_FLUSH_CLAIM_IDLE_MS. Taking over a live worker's entries by mistake
 * (a process paused for over 3 s) costs a second write of the same events, which the
 * ledger ignores.
 */
export class ConsumerHeartbeat {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: KeySchema,
    /** This worker's consumer name. */
    readonly consumer: string,
  ) {}

  /** Beats now and every second until stop(). */
  async start(): Promise<void> {
    await this.beat();
    this.timer = setInterval(() => void this.beat(), BEAT_EVERY_MS);
    this.timer.unref();
  }

  /** Stops beating and removes the heartbeat: a clean stop is not waited for by anyone. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.redis.del(this.keys.workerHeartbeat(this.consumer)).catch(() => {});
  }

  /** Whether the worker of consumer `name` is alive (this one always is). */
  async isAlive(name: string): Promise<boolean> {
    return name === this.consumer || (await this.redis.exists(this.keys.workerHeartbeat(name))) === 1;
  }

  private async beat(): Promise<void> {
    try {
      await this.redis.set(this.keys.workerHeartbeat(this.consumer), '1', 'PX', HEARTBEAT_TTL_MS);
    } catch {
      // Redis unreachable: the flushes fail too; the next beat renews it.
    }
  }
}
