import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { LedgerEvent } from '../../ledger/ledger-event.js';
import { DroppingQueue } from './dropping-queue.js';
import type { OutboxTail } from '../../ledger/outbox-tail.js';

/** Events one browser may have waiting; beyond that its events are dropped (and it is told how many). */
const MAX_BUFFERED = 256;
/** A comment line this often keeps proxies from closing a quiet stream and finds dead clients. */
const HEARTBEAT_MS = 15_000;
/** How soon a browser reconnects a lost feed. */
const RETRY_MS = 3_000;

/** What the page shows of a ledger event. */
const feedJson = (e: LedgerEvent) => ({
  id: e.id,
  kind: e.kind,
  subject: e.subjectId,
  metric: e.metric,
  delta: e.delta,
  value: e.valueAfter,
  at: new Date(e.occurredAt).toISOString(),
  /** What a denied request asked for. */
  requested: typeof e.extra.requested === 'number' ? e.extra.requested : null,
  actor: typeof e.context.actor === 'string' ? e.context.actor : null,
  reason: typeof e.context.reason === 'string' ? e.context.reason : null,
});

/**
 * The live feed as server-sent events: `ready` once the tail reads (everything decided
 * after it is sent), then `ledger` per event (of one subject when `subject` is given), and
 * `dropped` {count} when this client fell behind.
 */
export function feedStream(c: Context, tail: OutboxTail, subject: string | undefined): Response {
  const response = streamSSE(c, async (stream) => {
    const queue = new DroppingQueue<'ready' | LedgerEvent>(MAX_BUFFERED);
    const unsubscribe = tail.subscribe({
      ready: () => queue.push('ready'),
      event: (e) => {
        if (subject === undefined || e.subjectId === subject) queue.push(e);
      },
      closed: () => queue.close(),
    });
    stream.onAbort(() => queue.close());
    const heartbeat = setInterval(() => void stream.write(': ping\n\n').catch(() => queue.close()), HEARTBEAT_MS);
    try {
      for (let batch = await queue.take(); batch; batch = await queue.take()) {
        if (batch.dropped > 0) await stream.writeSSE({ event: 'dropped', data: JSON.stringify({ count: batch.dropped }) });
        for (const item of batch.items) {
          await stream.writeSSE(item === 'ready' ? { event: 'ready', data: '{}', retry: RETRY_MS } : { event: 'ledger', id: item.streamId, data: JSON.stringify(feedJson(item)) });
        }
      }
    } finally {
      clearInterval(heartbeat);
      unsubscribe();
    }
  });
  // A browser reconnects a feed on a new connection anyway; not keeping this one alive lets a
  // shutting-down gateway close it as soon as the feed ends.
  response.headers.set('connection', 'close');
  return response;
}
