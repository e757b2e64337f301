import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Policy } from '../../src/config/policy.js';
import { decodeLedgerEvent, type LedgerEvent } from '../../src/ledger/ledger-event.js';
import { FLUSH_GROUP } from '../../src/ledger/outbox-flusher.js';
import { newId } from '../../src/lib/ids.js';
import { QuotaEngine } from '../../src/quota/engine.js';
import type { KeySchema } from '../../src/redis/keys.js';
import type { SubjectRef } from '../../src/quota/types.js';
import { loadLua } from '../../src/redis/lua.js';
import { ReplyCode } from '../../src/redis/scripts/reply.js';
import { forEachConcurrently } from '../shared/concurrency.js';
import { consumeInput, EmptyLedger, RecordingScripts, substituted, type RecordedCall } from '../shared/consume-workload.js';

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

/** Calls sent per pipeline, and pipelines in flight: enough to keep Redis busy without hoarding replies. */
const PIPELINE = 500;
const PIPELINES_IN_FLIGHT = 4;

/**
 * Puts `total` real ledger events into the outboxes: every one written by the consume
 * script, each an allowed `consume` of one subject. First one `QuotaEngine.consume` per
 * subject (which hydrates it from an empty ledger, as in a new deployment), then those exact
 * calls replayed as pipelined EVALSHA with fresh request ids and the current time,
 * round-robin over the subjects: faster than the engine's own JavaScript (which
 * bench:engine measures, not this benchmark).
 */
export async function fillOutbox(redis: Redis, keys: KeySchema, policy: Policy, subjects: readonly SubjectRef[], total: number): Promise<void> {
  if (total < subjects.length) throw new Error(`${total} events cannot give each of ${subjects.length} subjects one`);
  const scripts = new RecordingScripts(redis, 'consume');
  // A fixed time while capturing, so the calls' time can be found (and replaced) by value.
  const capturedAt = Date.now();
  const engine = new QuotaEngine({ redis, keys, policy, hydrator: new EmptyLedger(), scripts, clock: { now: () => capturedAt } });
  const requestIds = new Set<string>();
  await forEachConcurrently(subjects, 256, async (s) => {
    const requestId = newId();
    requestIds.add(requestId);
    const d = await engine.consume({ ...consumeInput(s), requestId });
    if (d.outcome !== 'allowed') throw new Error(`the fill must never be denied; the engine answered ${JSON.stringify(d)}`);
  });
  // A call answered "needs hydration" is made again with the same id: the last one is kept.
  // What must change in a replay is found by value: the request id (in ARGV, and in the keys
  // of its hold and refund record) and the time. The denial tally's key keeps the captured
  // minute: only a denial writes it, and the fill checks that there is none.
  const byRequest = new Map<string, RecordedCall>();
  for (const call of scripts.calls) {
    const id = call.args
      .join(' ')
      .match(UUID)
      ?.find((candidate) => requestIds.has(candidate));
    if (id === undefined) throw new Error('a consume call without its request id in ARGV: update bench/ledger-fill.ts');
    byRequest.set(id, call);
  }
  const templates = [...byRequest];
  const replay = ([requestId, call]: [string, RecordedCall], now: number): [number, ...string[]] => {
    const { keys: k, args } = substituted(call, [
      [requestId, newId()],
      [String(capturedAt), String(now)],
    ]);
    return [k.length, ...k, ...args];
  };
  // The engine's calls have loaded the script into Redis's cache.
  const sha = createHash('sha1').update(loadLua('consume')).digest('hex');

  let next = subjects.length;
  const sendPipelines = async () => {
    while (next < total) {
      const pipeline = redis.pipeline();
      const now = Date.now();
      for (const end = Math.min(next + PIPELINE, total); next < end; next++) {
        pipeline.evalsha(sha, ...replay(templates[next % templates.length]!, now));
      }
      for (const [err, reply] of (await pipeline.exec()) ?? []) {
        if (err) throw err;
        const code = (reply as unknown[])[0];
        if (code !== ReplyCode.Ok) throw new Error(`a replayed consume answered ${JSON.stringify(reply)}; the fill must be allowed every time`);
      }
    }
  };
  await Promise.all(Array.from({ length: PIPELINES_IN_FLIGHT }, sendPipelines));
}

/** Every entry of the outboxes, decoded as the flusher decodes them (the raw-insert baseline's rows). */
export async function readOutboxes(redis: Redis, keys: KeySchema): Promise<LedgerEvent[]> {
  const events: LedgerEvent[] = [];
  for (let p = 0; p < keys.partitions; p++) {
    let from = '-';
    for (;;) {
      const entries = await redis.xrange(keys.outbox(p), from, '+', 'COUNT', 10_000);
      for (const [id, fields] of entries) events.push(decodeLedgerEvent(id, fields));
      if (entries.length < 10_000) break;
      from = `(${entries.at(-1)![0]}`;
    }
  }
  return events;
}

/** The outbox streams' serialized contents (DUMP), to put the same entries back before each run. */
export type OutboxSnapshot = Map<string, Buffer>;

/**
 * Takes the entries out of the outboxes, to be put back before each run. Take them before
 * any worker has run: a stream's DUMP carries its consumer groups, and the flusher's group
 * is created first, as the flusher creates it (from the start, nothing delivered), so that
 * workers already running read the restored entries as new ones.
 */
export async function takeOutboxes(redis: Redis, keys: KeySchema): Promise<OutboxSnapshot> {
  const snapshot: OutboxSnapshot = new Map();
  for (let p = 0; p < keys.partitions; p++) {
    const key = keys.outbox(p);
    await redis.xgroup('CREATE', key, FLUSH_GROUP, '0', 'MKSTREAM');
    snapshot.set(key, (await redis.dumpBuffer(key))!);
    await redis.del(key);
  }
  return snapshot;
}

/** Replaces the outboxes (entries, group, pending lists) with the snapshot's. */
export async function restoreOutboxes(redis: Redis, snapshot: OutboxSnapshot): Promise<void> {
  for (const [key, dump] of snapshot) await redis.restore(key, 0, dump, 'REPLACE');
}
