import type { Redis } from 'ioredis';

/** Deletes every key under `<prefix>:` with SCAN + UNLINK (never KEYS, never FLUSH*). */
export async function deletePrefix(redis: Redis, prefix: string): Promise<number> {
  if (prefix.length < 6) throw new Error(`refusing to delete keys under the prefix "${prefix}": too broad`);
  const match = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}:*`;
  let deleted = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', match, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) deleted += await redis.unlink(...keys);
  } while (cursor !== '0');
  return deleted;
}
