import type { OutboxTail } from './outbox-tail.js';

export interface UsageWatcher {
  /** Every change from now on will be reported (called once, before any change). */
  ready(): void;
  /** The subject's usage (or grants) changed: read it again. */
  changed(): void;
  /** The gateway is shutting down. */
  closed(): void;
}

/**
 * Change signals for live usage streams, by subject. The outbox streams already carry every
 * change of every counter, grant and gauge (each is an event written by the script that
 * made it), so the gateway's one outbox tail — shared with the dashboard feed, running only
 * while someone listens — is the signal: this fans its events out to the watchers of their
 * subject. Denials change nothing and are not signalled.
 */
export class UsageWatch {
  private readonly watchers = new Map<string, Set<UsageWatcher>>();
  private unsubscribe: (() => void) | undefined;
  private reading = false;

  constructor(private readonly tail: OutboxTail) {}

  watch(subjectId: string, watcher: UsageWatcher): () => void {
    let set = this.watchers.get(subjectId);
    if (!set) this.watchers.set(subjectId, (set = new Set()));
    set.add(watcher);
    if (this.reading) watcher.ready();
    this.unsubscribe ??= this.tail.subscribe({
      ready: () => {
        this.reading = true;
        for (const group of this.watchers.values()) for (const w of group) w.ready();
      },
      event: (e) => {
        if (e.kind === 'denied') return;
        for (const w of this.watchers.get(e.subjectId) ?? []) w.changed();
      },
      closed: () => {
        for (const group of this.watchers.values()) for (const w of group) w.closed();
      },
    });
    return () => {
      set.delete(watcher);
      if (set.size === 0 && this.watchers.get(subjectId) === set) this.watchers.delete(subjectId);
      if (this.watchers.size === 0) {
        this.unsubscribe?.();
        this.unsubscribe = undefined;
        this.reading = false;
      }
    };
  }

  /** Subjects watched right now (for tests and metrics). */
  get subjects(): number {
    return this.watchers.size;
  }
}
