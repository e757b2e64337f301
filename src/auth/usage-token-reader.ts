import type { Clock } from '../lib/clock.js';
import { TtlCache } from '../lib/ttl-cache.js';
import type { SubjectStore } from '../subjects/subject-store.js';
import type { SubjectRecord } from '../subjects/subject.js';
import { verifyUsageToken, type UsageTokenClaims } from './usage-token.js';

/**
 * Resolves a usage token to its subject: the signature and expiry are checked on every
 * request, the subject (plan, anchor) is read from Postgres and cached like an API key's,
 * and dropped by the same invalidations (plan change, delete, renewal).
 */
export class UsageTokenReader {
  private readonly cache: TtlCache<string, SubjectRecord>;

  constructor(
    private readonly secret: string,
    private readonly subjects: Pick<SubjectStore, 'get'>,
    private readonly clock: Clock,
    private readonly ttlMs: number,
  ) {
    this.cache = new TtlCache(100_000, () => clock.now());
  }

  /** The token's claims and live subject, or null (invalid, expired, or the subject is gone). */
  async read(token: string): Promise<{ claims: UsageTokenClaims; subject: SubjectRecord } | null> {
    const claims = verifyUsageToken(this.secret, token, this.clock.now() / 1000);
    if (!claims) return null;
    const cached = this.cache.get(claims.subject);
    if (cached) return { claims, subject: cached };
    const subject = await this.subjects.get(claims.subject);
    if (!subject) return null;
    this.cache.set(claims.subject, subject, this.ttlMs);
    return { claims, subject };
  }

  invalidate(subjectId?: string): void {
    if (subjectId === undefined) this.cache.clear();
    else this.cache.deleteWhere((s) => s.id === subjectId);
  }
}
