import type { RedisClient } from './client.js';

/**
 * Redis's clock as seen from here: the offset between Redis TIME and the local clock,
 * measured every `everyMs` (to ±half a round trip). Lets a script tell whether the caller
 * has already given up on it (see the consume script's deadline). On a Cluster, TIME is
 * answered by any node: their clocks are taken as one (NTP keeps them within milliseconds).
 */
export class RedisClockOffset {
  private offsetMs: number | null = null;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: RedisClient,
    private readonly everyMs = 10_000,
  ) {}

  start(): void {
    void this.measure();
    this.timer = setInterval(() => void this.measure(), this.everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Redis's current time (ms), estimated locally; null until a measurement succeeded. */
  now(): number | null {
    return this.offsetMs === null ? null : Date.now() + this.offsetMs;
  }

  private async measure(): Promise<void> {
    try {
      const sent = Date.now();
      const [seconds, micros] = await this.redis.time();
      const received = Date.now();
      this.offsetMs = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) - (sent + received) / 2;
    } catch {
      // Redis unreachable: keep the last offset (clocks drift slowly).
    }
  }
}
