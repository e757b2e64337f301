import type { Usage } from '../types.js';
import { sseEvents } from './sse-events.js';

export type { Usage, UsageEntry, UsageStatus } from '../types.js';

export interface WatchUsageOptions {
  /** The gateway, e.g. https://quota.example.com (it must list this page's origin in QG_CORS_ORIGINS). */
  baseUrl: string;
  /**
   * Gets a usage token from the app's own backend, which mints it with its API key
   * (`client.mintUsageToken()`). Called at the start and whenever the token expires or is refused.
   */
  getToken: () => Promise<string>;
  /** Every snapshot the gateway sends: at once, then after every change. */
  onUsage: (usage: Usage) => void;
  /** A connection failed (the watcher retries by itself, with backoff). */
  onError?: (err: unknown) => void;
  fetch?: typeof fetch;
  /** First wait before reconnecting after a failure, ms (default 1000; doubles up to 30 s). */
  retryDelayMs?: number;
}

export interface UsageWatch {
  /** Closes the stream for good. */
  stop(): void;
}

const MAX_RETRY_MS = 30_000;

/**
 * Shows usage the way the gateway counts it, live: reads GET /v1/usage/stream with a usage
 * token and hands every snapshot to `onUsage`. When the token expires (the gateway sends
 * `expired`) or is refused, it gets a new one and reconnects; a lost connection is retried
 * with backoff. Nothing is guessed on the page: every number is the gateway's.
 */
export function watchUsage(options: WatchUsageOptions): UsageWatch {
  const controller = new AbortController();
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const base = options.baseUrl.replace(/\/+$/, '');
  const firstDelay = options.retryDelayMs ?? 1_000;

  const wait = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      controller.signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
    });

  void (async () => {
    let delay = firstDelay;
    while (!controller.signal.aborted) {
      try {
        const token = await options.getToken();
        const response = await doFetch(`${base}/v1/usage/stream`, {
          headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
          signal: controller.signal,
          cache: 'no-store',
        });
        if (!response.ok || response.body === null) throw new Error(`the usage stream answered ${response.status}`);
        for await (const event of sseEvents(response.body)) {
          if (event.event === 'usage') {
            options.onUsage(JSON.parse(event.data) as Usage);
            delay = firstDelay;
          }
          // `expired`: the loop gets a new token and reconnects at once.
        }
        continue;
      } catch (err) {
        if (controller.signal.aborted) return;
        options.onError?.(err);
      }
      await wait(delay);
      delay = Math.min(MAX_RETRY_MS, delay * 2);
    }
  })();

  return { stop: () => controller.abort() };
}
