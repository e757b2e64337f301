import type { Logger } from 'pino';
import { RunningTasks } from '../lib/running-tasks.js';
import { EngineInputError } from '../quota/errors.js';

const RETRY_DELAYS_MS = [100, 500, 2_000];

/**
 * Runs the work that ends a request after its response has left (settle, return of its
 * hold, refund of a charge taken outright, release of a gauge), retrying through a short
 * Redis blip, and remembers what is still running so a shutdown can wait for it. A hold
 * that still cannot be ended is returned by the expiry job.
 */
export class Settlements {
  private readonly running = new RunningTasks();

  constructor(private readonly onFailure: (label: string) => void = () => {}) {}

  /** `log` is the request's logger, so a failure is logged with its request id. */
  run(log: Logger, label: string, work: () => Promise<unknown>): void {
    this.running.add(this.attempt(log, label, work));
  }

  get pending(): number {
    return this.running.size;
  }

  /** Resolves once everything started so far has finished (or `timeoutMs` passed). */
  idle(timeoutMs = 10_000): Promise<void> {
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
