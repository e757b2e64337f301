import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPrivateRedis, type PrivateRedis } from '../../test/support/redis-server.js';
import { applyCommandDeadline } from './command-deadline.js';

/** A Redis of its own: the tests make it sleep. */
let server: PrivateRedis;
const clients: Redis[] = [];

function client(timeoutMs: number): Redis {
  const redis = new Redis(server.url, { maxRetriesPerRequest: 0, enableOfflineQueue: false, lazyConnect: true });
  applyCommandDeadline(redis, timeoutMs);
  clients.push(redis);
  return redis;
}

beforeAll(async () => {
  server = await startPrivateRedis({ args: ['--enable-debug-command', 'yes'] });
});
afterAll(async () => {
  for (const redis of clients) redis.disconnect();
  await server?.dispose();
});

// A reply that arrived while the process was paused past the deadline: test/engine/decision-voids.test.ts.
describe('command deadline', () => {
  it('answers hundreds of commands in flight at once, none failed', async () => {
    const redis = client(1_000);
    await redis.connect();
    const replies = await Promise.all(Array.from({ length: 500 }, (_, i) => redis.echo(String(i))));
    expect(replies).toEqual(Array.from({ length: 500 }, (_, i) => String(i)));
  });

  it('fails a command Redis does not answer in time, and those sent after it, then works again', async () => {
    const redis = client(100);
    const other = client(5_000);
    await Promise.all([redis.connect(), other.connect()]);
    const order: string[] = [];
    const asleep = other.debug('SLEEP', '2').then(() => order.push('redis awake'));
    const first = redis.ping().then(
      () => 'answered',
      (err: Error) => err.message,
    );
    await new Promise((r) => setTimeout(r, 50));
    const second = redis.echo('x').then(
      () => 'answered',
      (err: Error) => err.message,
    );
    void first.then(() => order.push('first failed'));
    void second.then(() => order.push('second failed'));
    expect(await first).toBe('Command timed out');
    expect(await second).toBe('Command timed out');
    await asleep;
    // Each at its own deadline, while Redis still slept: not all at once when it woke.
    expect(order).toEqual(['first failed', 'second failed', 'redis awake']);
    expect(await redis.echo('awake')).toBe('awake');
  });
});
