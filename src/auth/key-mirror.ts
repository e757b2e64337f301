import type { Pool } from 'pg';
import type { Clock } from '../lib/clock.js';
import type { RedisClient } from '../redis/client.js';
import type { SubjectRecord } from '../subjects/subject.js';
import { toSubject } from '../subjects/subject-store.js';
import type { KeyOwner } from './key-store.js';
import type { KeySchema } from '../redis/keys.js';

/**
 * API-key records mirrored in Redis, so decisions outlive Postgres (SPEC invariant 14):
 * decisions need Redis anyway, and every gateway reads the same mirror, so a key verified
 * by any gateway keeps working on all of them — a restarted one included — while Postgres
 * cannot be reached, for QG_AUTH_STALE_SECONDS after its last verification.
 *
 *   <prefix>:auth:key:<SHA-256 of the key, base64url>   hash {k: key id, s: subject id, v: verified at (ms)}
 *                                                        + {revoked: 1} once revoked
 *   <prefix>:auth:subject:<subject id>                   JSON of the subject (plan, anchor, overrides), or {deleted: true}
 *
 * Only hashes are stored, as in Postgres. Gateways write a key's record after each
 * verification in Postgres (HSET: it never removes the `revoked` field, so a verification
 * racing a revocation cannot bring the key back) and its subject's record only where there
 * is none (SET NX: a gateway's read may predate a change). What changes a key or a subject
 * (admin API, billing webhooks) writes the truth after its commit, before telling the
 * gateways (syncSubject, called by AuthInvalidation.publish).
 */
export class KeyMirror {
  /** Records outlive the bound a little, so the bound (checked on `v`) is what ends them. */
  private readonly ttlMs: number;

  constructor(
    private readonly deps: { redis: RedisClient; pool: Pool; keys: KeySchema; clock: Clock },
    /** How long after its last verification a key is accepted from the mirror (QG_AUTH_STALE_SECONDS). */
    readonly staleMs: number,
  ) {
    this.ttlMs = staleMs + 60_000;
  }

  private keyRecord(hash: Buffer): string {
    return this.deps.keys.authKey(hash.toString('base64url'));
  }

  private subjectRecord(subjectId: string): string {
    return this.deps.keys.authSubject(subjectId);
  }

  /** After a verification in Postgres found the key live. */
  async remember(hash: Buffer, owner: KeyOwner): Promise<void> {
    const { redis, clock } = this.deps;
    const key = this.keyRecord(hash);
    const subject = this.subjectRecord(owner.subject.id);
    // Two keys in two Cluster slots: two round trips, sent together.
    await Promise.all([
      redis.multi().hset(key, 'k', owner.keyId, 's', owner.subject.id, 'v', String(clock.now())).pexpire(key, this.ttlMs).exec(),
      redis.set(subject, subjectJson(owner.subject), 'PX', this.ttlMs, 'NX').then((set) => (set === null ? redis.pexpire(subject, this.ttlMs) : 0)),
    ]);
  }

  /**
   * The key's owner as mirrored: null when it is revoked or its subject deleted (refuse it);
   * undefined when the mirror cannot tell (never mirrored, or verified longer ago than the bound).
   */
  async lookup(hash: Buffer): Promise<KeyOwner | null | undefined> {
    const record = await this.deps.redis.hgetall(this.keyRecord(hash));
    if (record.revoked !== undefined) return null;
    const verifiedAt = Number(record.v);
    if (record.k === undefined || record.s === undefined || !(this.deps.clock.now() - verifiedAt <= this.staleMs)) return undefined;
    const json = await this.deps.redis.get(this.subjectRecord(record.s));
    if (json === null) return undefined;
    const subject = parseSubject(json);
    return subject === 'deleted' ? null : { keyId: record.k, subject };
  }

  /**
   * Mirrors a subject as Postgres has it now, after a change committed: its record (or that
   * it is deleted) and a revocation mark on each of its revoked keys.
   */
  async syncSubject(subjectId: string): Promise<void> {
    const { redis, pool } = this.deps;
    const { rows } = await pool.query(
      `SELECT s.id, s.plan, s.anchor, s.overrides, s.created_at, s.updated_at, s.deleted_at,
              coalesce((SELECT array_agg(k.hash) FROM api_keys k WHERE k.subject_id = s.id AND k.revoked_at IS NOT NULL), '{}') AS revoked
         FROM subjects s WHERE s.id = $1`,
      [subjectId],
    );
    const row = rows[0];
    if (!row) return;
    const revoked = row.revoked as Buffer[];
    await Promise.all([
      redis.set(this.subjectRecord(subjectId), row.deleted_at ? JSON.stringify({ deleted: true }) : subjectJson(toSubject(row)), 'PX', this.ttlMs),
      ...revoked.map((hash) => redis.multi().hset(this.keyRecord(hash), 'revoked', '1').pexpire(this.keyRecord(hash), this.ttlMs).exec()),
    ]);
  }
}

const subjectJson = (s: SubjectRecord): string =>
  JSON.stringify({ id: s.id, plan: s.plan, anchor: s.anchor, overrides: s.overrides, created_at: s.createdAt.getTime(), updated_at: s.updatedAt.getTime() });

function parseSubject(json: string): SubjectRecord | 'deleted' {
  const s = JSON.parse(json) as {
    deleted?: true;
    id: string;
    plan: string;
    anchor: number | null;
    overrides: Record<string, number | null>;
    created_at: number;
    updated_at: number;
  };
  if (s.deleted) return 'deleted';
  return { id: s.id, plan: s.plan, anchor: s.anchor, overrides: s.overrides, createdAt: new Date(s.created_at), updatedAt: new Date(s.updated_at) };
}
