import type { Logger } from 'pino';
import { RunningTasks } from '../lib/running-tasks.js';
import { EngineInputError } from '../quota/errors.js';

const RETRY_DELAYS_MS = [100, 500, 2_000];

/** What may hold a settlement's start back (src/redis/ride-along.ts's RideAlong). */
export interface Deferral {
  defer(start: () => void): void;
  /** Starts everything held back. */
  release(): void;
}

/**
 * Runs the work that ends a request after its response has left (settle, return of its
 * hold, refund of a charge taken outright, release of a gauge), retrying through a short
 * Redis blip, and remembers what is still running so a shutdown can wait for it. A hold
 * that still cannot be ended is returned by the expiry job.
 */
export class Settlements {
  private readonly running = new RunningTasks();

  /**
   * `deferral` may hold the start of each settlement back for a few milliseconds, to send
   * it with the next decision (src/redis/ride-along.ts); by default each starts at once.
   */
  constructor(
    private readonly onFailure: (label: string) => void = () => {},
    private readonly deferral: Deferral = { defer: (start) => start(), release: () => {} },
  ) {}

  /** `log` is the request's logger, so a failure is logged with its request id. */
  run(log: Logger, label: string, work: () => Promise<unknown>): void {
    this.deferral.defer(() => this.running.add(this.attempt(log, label, work)));
  }

  /** Starts what is held back, then resolves once everything started has finished (or `timeoutMs` passed). */
  idle(timeoutMs = 10_000): Promise<void> {
    this.deferral.release();
    return this.running.idle(timeoutMs);
  }

  private async attempt(log: Logger, label: string, work: () => Promise<unknown>): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await work();
        return;
      } catch (err) {
        const delay = RETRY_DELAYS_MS[attempt];
        if (err instanceof EngineInputError || delay === undefined) {
          this.onFailure(label);
          log.error({ err, label }, 'could not end a request; the expiry job will return its hold');
          return;
        }
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }
}
