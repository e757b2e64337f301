import { describe, expect, it } from 'vitest';
import { DroppingQueue } from './dropping-queue.js';

describe('DroppingQueue', () => {
  it('keeps at most `capacity` items for a slow taker and counts the rest as dropped', async () => {
    const queue = new DroppingQueue<number>(3);
    for (let i = 1; i <= 10; i++) queue.push(i);
    expect(await queue.take()).toEqual({ items: [1, 2, 3], dropped: 7 });
    queue.push(11);
    expect(await queue.take()).toEqual({ items: [11], dropped: 0 });
  });

  it('wakes a waiting taker on push, and answers null once closed', async () => {
    const queue = new DroppingQueue<string>(2);
    const waiting = queue.take();
    queue.push('a');
    expect(await waiting).toEqual({ items: ['a'], dropped: 0 });
    const closed = queue.take();
    queue.close();
    expect(await closed).toBeNull();
    queue.push('late');
    expect(await queue.take()).toBeNull();
  });
});
