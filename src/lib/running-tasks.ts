/** Background work still running (settlements, voids), so a shutdown can wait for it. */
export class RunningTasks {
  private readonly running = new Set<Promise<void>>();

  /** Tracks `task` until it settles. */
  add(task: Promise<void>): void {
    const tracked = task.finally(() => this.running.delete(tracked));
    this.running.add(tracked);
  }

  get size(): number {
    return this.running.size;
  }

  /** Resolves once everything added so far has finished (or `timeoutMs` passed). */
  async idle(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.running.size > 0 && Date.now() < deadline) {
      await Promise.race([Promise.allSettled([...this.running]), new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())))]);
    }
  }
}
