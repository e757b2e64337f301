import type { ConsumeRequest } from '../redis/scripts/consume.js';
import { ReplyCode } from '../redis/scripts/reply.js';
import { voidCall } from '../redis/scripts/void.js';
import type { Clock } from '../lib/clock.js';
import { RunningTasks } from '../lib/running-tasks.js';
import type { KeySchema } from '../redis/keys.js';
import type { HydratingScripts } from './hydrating-scripts.js';
import type { Line } from './metric-lines.js';

/** Between attempts of one void; the last delay repeats until the void window closes. */
const RETRY_DELAYS_MS = [25, 50, 100, 250, 500, 1_000, 2_000];

export type VoidOutcome = 'voided' | 'not_applied' | 'already_void';

/** What became of one void: its outcome, or `gave_up` (the window closed first: the request stays charged) with the last error. */
export interface VoidReport {
  requestId: string;
  outcome: VoidOutcome | 'gave_up';
  error?: unknown;
}

/**
 * Gives back decisions whose answer never reached the engine in time (the command timed
 * out, the connection broke): the caller answers 503 "not charged", so whatever the consume
 * applied is undone by its request id (lua/void.lua), or refused if it has not run yet.
 *
 * The first attempt is awaited before the caller answers, so a client's retry finds the
 * request voided; when it fails (Redis unreachable, or slow again) the void is retried in
 * the background for as long as the consume's refund record lives (the void window). Past
 * that it can no longer tell an applied request from one never run: it is reported.
 */
export class DecisionVoids {
  private readonly running = new RunningTasks();

  /** `report` hears what became of each void (metrics, logs). */
  constructor(
    private readonly deps: { scripts: HydratingScripts; keys: KeySchema; clock: Clock },
    private readonly report: (report: VoidReport) => void = () => {},
  ) {}

  /** Voids `request` (a consume whose reply did not arrive); resolves after the first attempt. */
  async void(request: ConsumeRequest, lines: readonly Line[]): Promise<VoidOutcome | null> {
    const { scripts, keys, clock } = this.deps;
    const started = performance.now();
    const attempt = async (): Promise<VoidOutcome> => {
      const reply = await scripts.run(request.subjectId, lines, () => voidCall(keys, request, clock.now(), request.voidTtlMs));
      const outcome = reply.code === ReplyCode.Ok ? 'voided' : reply.code === ReplyCode.NotApplied ? 'not_applied' : 'already_void';
      this.report({ requestId: request.requestId, outcome });
      return outcome;
    };
    try {
      return await attempt();
    } catch {
      // Retried below, without holding the caller's answer.
    }
    this.running.add(this.retry(attempt, request, started));
    return null;
  }

  /** Resolves once every void started so far has succeeded or given up (or `timeoutMs` passed). */
  idle(timeoutMs = 10_000): Promise<void> {
    return this.running.idle(timeoutMs);
  }

  private async retry(attempt: () => Promise<VoidOutcome>, request: ConsumeRequest, started: number): Promise<void> {
    // A margin before the record expires: an attempt must still find it.
    const windowEnd = started + request.voidTtlMs - Math.min(5_000, request.voidTtlMs / 10);
    let last: unknown = null;
    for (let n = 0; ; n++) {
      const delay = RETRY_DELAYS_MS[Math.min(n, RETRY_DELAYS_MS.length - 1)]!;
      if (performance.now() + delay > windowEnd) {
        this.report({ requestId: request.requestId, outcome: 'gave_up', error: last });
        return;
      }
      await new Promise((r) => setTimeout(r, delay));
      try {
        await attempt();
        return;
      } catch (err) {
        last = err; // Redis still unreachable or slow: next attempt.
      }
    }
  }
}
