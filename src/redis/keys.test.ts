import { describe, expect, it } from 'vitest';
import { KeySchema } from './keys.js';

const hashTag = (key: string) => key.slice(key.indexOf('{') + 1, key.indexOf('}'));

describe('KeySchema', () => {
  const keys = new KeySchema('qg', 16);

  it('puts every key of a subject and its partition outbox under one hash tag', () => {
    const subject = 'org:acme@eu';
    const p = keys.partitionOf(subject);
    const all = [
      keys.outbox(p),
      keys.holdDeadlines(p),
      keys.denials(p, 0),
      keys.counter(subject, 'gens', 0),
      keys.window(subject, 'gens', 'minute', 0),
      keys.gauge(subject, 'projects'),
      keys.grants(subject, 'gens'),
      keys.rate(subject, 'chat'),
      keys.concurrency(subject),
      keys.idempotency(subject, 'k'),
      keys.hold(subject, 'h'),
    ];
    expect(new Set(all.map(hashTag))).toEqual(new Set([`p${p}`]));
  });

  it('maps subjects to partitions stably and spreads them', () => {
    expect(keys.partitionOf('user-1')).toBe(keys.partitionOf('user-1'));
    const used = new Set(Array.from({ length: 1000 }, (_, i) => keys.partitionOf(`user-${i}`)));
    expect(used.size).toBe(16);
    // Pinned: changing the hash would move every subject's keys.
    expect(new KeySchema('x', 1024).partitionOf('user-1')).toBe(new KeySchema('y', 1024).partitionOf('user-1'));
  });

  it('keeps subject ids containing ":" from colliding with other keys', () => {
    expect(keys.idempotency('a:b', 'c')).not.toBe(keys.idempotency('a', 'b:c'));
    expect(keys.counter('a', 'b', 1)).not.toBe(keys.counter('a|b', 'b', 1));
  });

  it('refuses a partition count below 1', () => {
    expect(() => new KeySchema('qg', 0)).toThrow(RangeError);
  });
});
