import type { Pool } from 'pg';
import type { Queryable } from '../db/transaction.js';
import { newId } from '../lib/ids.js';
import { toSubject } from '../subjects/subject-store.js';
import type { SubjectRecord } from '../subjects/subject.js';
import { generateApiKey } from './api-key.js';

export interface KeyOwner {
  keyId: string;
  subject: SubjectRecord;
}

export interface ApiKeyInfo {
  id: string;
  prefix: string;
  name: string | null;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

/** API keys in Postgres: only hashes are stored. */
export class KeyStore {
  constructor(private readonly pool: Pool) {}

  /** Creates a key for an existing subject; the secret is returned here and nowhere else. */
  async create(subjectId: string, name: string | null = null, db: Queryable = this.pool): Promise<{ id: string; secret: string; prefix: string }> {
    const key = generateApiKey();
    const id = newId();
    await db.query('INSERT INTO api_keys (id, subject_id, prefix, hash, name) VALUES ($1, $2, $3, $4, $5)', [id, subjectId, key.prefix, key.hash, name]);
    return { id, secret: key.secret, prefix: key.prefix };
  }

  /** Every key of the subject, newest first: metadata only (the hash never leaves the database). */
  async list(subjectId: string): Promise<ApiKeyInfo[]> {
    const { rows } = await this.pool.query(`SELECT id, prefix, name, created_at, last_used_at, revoked_at FROM api_keys WHERE subject_id = $1 ORDER BY created_at DESC, id DESC`, [
      subjectId,
    ]);
    return rows.map((r) => ({ id: r.id, prefix: r.prefix, name: r.name, createdAt: r.created_at, lastUsedAt: r.last_used_at, revokedAt: r.revoked_at }));
  }

  /** Revokes a live key of the subject; false when there is no such live key. */
  async revoke(subjectId: string, keyId: string, db: Queryable): Promise<boolean> {
    const { rowCount } = await db.query(`UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND subject_id = $2 AND revoked_at IS NULL`, [keyId, subjectId]);
    return rowCount === 1;
  }

  /**
   * The live key with this hash and its subject, or null (unknown, revoked, subject
   * deleted). Stamps `last_used_at`: lookups happen once per cache TTL, so the stamp is
   * that precise and costs one write per key and TTL, not per request.
   */
  async findByHash(hash: Buffer): Promise<KeyOwner | null> {
    const { rows } = await this.pool.query(
      `WITH k AS (
         UPDATE api_keys SET last_used_at = now() WHERE hash = $1 AND revoked_at IS NULL RETURNING id, subject_id)
       SELECT k.id AS key_id, s.id, s.plan, s.anchor, s.overrides, s.created_at, s.updated_at
         FROM k JOIN subjects s ON s.id = k.subject_id
        WHERE s.deleted_at IS NULL`,
      [hash],
    );
    const row = rows[0];
    return row ? { keyId: row.key_id as string, subject: toSubject(row) } : null;
  }
}
