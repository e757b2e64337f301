import type { KeyOwner, KeyStore } from './key-store.js';
import { API_KEY_PATTERN, hashApiKey } from './api-key.js';
import type { KeyMirror } from './key-mirror.js';
import { isPostgresOutage } from '../db/connection-error.js';
import { systemClock, type Clock } from '../lib/clock.js';
import { TtlCache } from '../lib/ttl-cache.js';

export interface AuthenticatorOptions {
  /** How long a found key is trusted without asking Postgres again. */
  ttlMs: number;
  /** How long an unknown key stays unknown (spares Postgres from repeated bad keys). */
  negativeTtlMs: number;
  maxEntries: number;
}

/** After Postgres failed to answer, lookups go straight to the mirror for this long (one request a second pays for trying). */
const POSTGRES_RETRY_MS = 1_000;

/** Postgres did not answer and the mirror does not know the key: the caller answers 503. */
export class KeysUnavailableError extends Error {
  constructor(cause: unknown) {
    super(`API keys cannot be checked: ${(cause as Error)?.message ?? 'postgres unavailable'}`, { cause });
    this.name = 'KeysUnavailableError';
  }
}

/**
 * Resolves an API key to its subject: by SHA-256 hash (the secret itself is never stored
 * or compared), cached in-process for a short TTL, with concurrent lookups of one key
 * sharing one query. `invalidate` drops a revoked key.
 *
 * While Postgres cannot be reached, a key is resolved from the mirror in Redis (see
 * key-mirror.ts): accepted if it was verified within the mirror's bound and is not marked
 * revoked, refused if it is; only a key the mirror does not know fails (503).
 */
export class Authenticator {
  private readonly cache: TtlCache<string, KeyOwner | null>;
  private readonly inFlight = new Map<string, Promise<KeyOwner | null>>();
  private postgresRetryAt = 0;

  constructor(
    private readonly store: KeyStore,
    private readonly options: AuthenticatorOptions = { ttlMs: 5_000, negativeTtlMs: 2_000, maxEntries: 100_000 },
    private readonly mirror?: KeyMirror,
    private readonly clock: Clock = systemClock,
  ) {
    this.cache = new TtlCache(options.maxEntries, () => clock.now());
  }

  async authenticate(secret: string): Promise<KeyOwner | null> {
    if (!API_KEY_PATTERN.test(secret)) return null;
    const hash = hashApiKey(secret);
    const cacheKey = hash.toString('base64');
    const cached = this.cache.get(cacheKey);
    if (cached !== undefined) return cached;
    let lookup = this.inFlight.get(cacheKey);
    if (!lookup) {
      lookup = this.resolve(hash, cacheKey).finally(() => this.inFlight.delete(cacheKey));
      this.inFlight.set(cacheKey, lookup);
    }
    return lookup;
  }

  /** Forget cached keys (all, or those of one subject), e.g. after a revoke or plan change. */
  invalidate(subjectId?: string): void {
    if (subjectId === undefined) this.cache.clear();
    else this.cache.deleteWhere((owner) => owner?.subject.id === subjectId);
  }

  private async resolve(hash: Buffer, cacheKey: string): Promise<KeyOwner | null> {
    let outage: unknown;
    if (!this.mirror || this.clock.now() >= this.postgresRetryAt) {
      try {
        const owner = await this.store.findByHash(hash);
        this.remember(cacheKey, owner);
        // Best effort: a mirror that misses one verification is refreshed by the next.
        if (owner) await this.mirror?.remember(hash, owner).catch(() => {});
        return owner;
      } catch (err) {
        if (!this.mirror || !isPostgresOutage(err)) throw err;
        this.postgresRetryAt = this.clock.now() + POSTGRES_RETRY_MS;
        outage = err;
      }
    }
    const mirrored = await this.mirror.lookup(hash);
    if (mirrored === undefined) throw new KeysUnavailableError(outage);
    // Cached as a verified key is: Postgres is asked again after the TTL, or a revocation drops it.
    this.remember(cacheKey, mirrored);
    return mirrored;
  }

  private remember(cacheKey: string, owner: KeyOwner | null): void {
    this.cache.set(cacheKey, owner, owner ? this.options.ttlMs : this.options.negativeTtlMs);
  }
}
