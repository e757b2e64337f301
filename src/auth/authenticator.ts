import type { KeyOwner, KeyStore } from './key-store.js';
import { API_KEY_PATTERN, hashApiKey } from './api-key.js';
import { TtlCache } from '../lib/ttl-cache.js';

export interface AuthenticatorOptions {
  /** How long a found key is trusted without asking Postgres again. */
  ttlMs: number;
  /** How long an unknown key stays unknown (spares Postgres from repeated bad keys). */
  negativeTtlMs: number;
  maxEntries: number;
}

/**
 * Resolves an API key to its subject: by SHA-256 hash (the secret itself is never stored
 * or compared), cached in-process for a short TTL. `invalidate` drops a revoked key.
 */
export class Authenticator {
  private readonly cache: TtlCache<string, KeyOwner | null>;

  constructor(
    private readonly store: KeyStore,
    private readonly options: AuthenticatorOptions = { ttlMs: 5_000, negativeTtlMs: 2_000, maxEntries: 100_000 },
  ) {
    this.cache = new TtlCache(options.maxEntries);
  }

  async authenticate(secret: string): Promise<KeyOwner | null> {
    if (!API_KEY_PATTERN.test(secret)) return null;
    const hash = hashApiKey(secret);
    const cacheKey = hash.toString('base64');
    const cached = this.cache.get(cacheKey);
    if (cached !== undefined) return cached;
    const owner = await this.store.findByHash(hash);
    this.cache.set(cacheKey, owner, owner ? this.options.ttlMs : this.options.negativeTtlMs);
    return owner;
  }

  /** Forget cached keys (all, or those of one subject), e.g. after a revoke or plan change. */
  invalidate(subjectId?: string): void {
    if (subjectId === undefined) this.cache.clear();
    else this.cache.deleteWhere((owner) => owner?.subject.id === subjectId);
  }
}
