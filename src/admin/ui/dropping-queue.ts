/**
 * A bounded queue between a fast producer that must never wait (the shared outbox tail)
 * and a consumer that may be slow (one browser's connection): when full, new items are
 * dropped and counted rather than buffered, so a slow client costs at most `capacity` items.
 */
export class DroppingQueue<T> {
  private items: T[] = [];
  private dropped = 0;
  private closed = false;
  private wake: (() => void) | undefined;

  constructor(private readonly capacity: number) {}

  push(item: T): void {
    if (this.closed) return;
    if (this.items.length >= this.capacity) this.dropped++;
    else this.items.push(item);
    this.wake?.();
  }

  close(): void {
    this.closed = true;
    this.wake?.();
  }

  /** Everything queued (and how many were dropped since the last take), once there is any; null once closed. */
  async take(): Promise<{ items: T[]; dropped: number } | null> {
    while (!this.closed && this.items.length === 0 && this.dropped === 0) {
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
    if (this.closed) return null;
    const batch = { items: this.items, dropped: this.dropped };
    this.items = [];
    this.dropped = 0;
    return batch;
  }
}
