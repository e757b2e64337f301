import type { Cluster, Redis } from 'ioredis';

/** Escapes the glob characters of SCAN MATCH, so a prefix matches only itself. */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/**
 * Deletes every key that starts with `prefix`, with SCAN + UNLINK: never KEYS (blocks the
 * server) and never FLUSHDB/FLUSHALL (other runs and people share the server). On a
 * Cluster each master is scanned and its keys unlinked one by one (one key per command,
 * so no CROSSSLOT). Returns how many keys were deleted.
 */
export async function unlinkByPrefix(redis: Redis | Cluster, prefix: string): Promise<number> {
  if (prefix.length < 3) throw new Error(`refusing to delete keys under the prefix "${prefix}": too broad`);
  const match = `${escapeGlob(prefix)}*`;
  const nodes: Redis[] = redis.isCluster ? (redis as Cluster).nodes('master') : [redis as Redis];
  let deleted = 0;
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', match, 'COUNT', 1000);
      cursor = next;
      if (keys.length === 0) continue;
      const pipeline = node.pipeline();
      for (const key of keys) pipeline.unlink(key);
      const results = (await pipeline.exec()) ?? [];
      for (const [err, count] of results) {
        if (err) throw err;
        deleted += Number(count);
      }
    } while (cursor !== '0');
  }
  return deleted;
}
