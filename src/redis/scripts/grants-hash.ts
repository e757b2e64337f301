import type { RedisClient } from '../client.js';
import type { KeySchema } from '../keys.js';

/**
 * A grants hash as lua/includes/grants.lua keeps it (grant.lua and hydrate.lua write it):
 *   _h          '1', present once the hash is hydrated (an empty hash means "not hydrated")
 *   <grant id>  '<remaining>:<expires_at ms, 0 = never>'
 */
export interface GrantValue {
  id: string;
  remaining: number;
  /** ms; null = never. */
  expiresAt: number | null;
}

/** The field value of one grant. */
export const grantsField = (g: GrantValue): string => `${g.remaining}:${g.expiresAt ?? 0}`;

/** The grants of one hash's HGETALL reply, or null when the hash is not hydrated (missing). */
export function parseGrantsHash(hash: Record<string, string>): GrantValue[] | null {
  if (hash._h === undefined) return null;
  return Object.entries(hash)
    .filter(([id]) => id !== '_h')
    .map(([id, value]) => {
      const [remaining, expires] = value.split(':').map(Number);
      return { id, remaining: remaining!, expiresAt: expires === 0 ? null : expires! };
    });
}

/** Each metric's grants as Redis holds them, null where the hash is missing. */
export function readGrants(redis: RedisClient, keys: KeySchema, subjectId: string, metrics: readonly string[]): Promise<(GrantValue[] | null)[]> {
  return Promise.all(metrics.map(async (m) => parseGrantsHash(await redis.hgetall(keys.grants(subjectId, m)))));
}
