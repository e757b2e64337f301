import { QuotagateError } from '../errors.js';
import { answerError } from '../transport.js';
import type { Usage } from '../types.js';
import { sseEvents, type SseEvent } from './sse-events.js';

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
  /**
   * A connection failed (the watcher retries by itself, with backoff). The gateway's answers
   * come as QuotagateErrors: `unauthorized` when it refused the token, `network` when it could
   * not be reached; a failing `getToken` passes on what it threw.
   */
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
const STREAM_PATH = '/v1/usage/stream';

/**
 * The gateway's problem as a typed error, so a page can tell a refused token (`unauthorized`:
 * expired, signed elsewhere, subject deleted) from a gateway that is down.
 */
async function refusal(response: Response): Promise<QuotagateError> {
  const text = await response.text().catch(() => '');
  let body: unknown = null;
  try {
    body = JSON.parse(text);
  } catch {
    // Not problem+json (a proxy's error page): answerError reports the status alone.
  }
  return answerError({ method: 'GET', path: STREAM_PATH }, { status: response.status, headers: response.headers, body });
}

/** A connection that could not be made, or broke off. */
const lost = (err: unknown) => new QuotagateError('network', `GET ${STREAM_PATH}: ${(err as Error).message}`, null, null, null, { cause: err });

/** The stream's events; a cut connection is a `network` QuotagateError (what onUsage throws is not caught here). */
async function* streamEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  try {
    yield* sseEvents(body);
  } catch (err) {
    throw lost(err);
  }
}

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
        const response = await doFetch(`${base}${STREAM_PATH}`, {
          headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
          signal: controller.signal,
          cache: 'no-store',
        }).catch((err: unknown) => {
          throw lost(err);
        });
        if (!response.ok || response.body === null) throw await refusal(response);
        let expired = false;
        for await (const event of streamEvents(response.body)) {
          if (event.event === 'usage') {
            options.onUsage(JSON.parse(event.data) as Usage);
            delay = firstDelay;
          }
          expired ||= event.event === 'expired';
        }
        // `expired`: a new token, at once. Any other end (a gateway restarting, a proxy closing
        // idle streams, on Node a cut connection) waits like a failure: a server that answers
        // and closes at once must not be called in a tight loop.
        if (expired) continue;
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
