import type { Pool } from 'pg';
import { newId } from '../lib/ids.js';
import { toSubject } from '../subjects/subject-store.js';
import type { SubjectRecord } from '../subjects/subject.js';
import { generateApiKey } from './api-key.js';

export interface KeyOwner {
  keyId: string;
  subject: SubjectRecord;
}

/** API keys in Postgres: only hashes are stored. */
export class KeyStore {
  constructor(private readonly pool: Pool) {}

  /** Creates a key for an existing subject; the secret is returned here and nowhere else. */
  async create(subjectId: string, name: string | null = null): Promise<{ id: string; secret: string; prefix: string }> {
    const key = generateApiKey();
    const id = newId();
    await this.pool.query('INSERT INTO api_keys (id, subject_id, prefix, hash, name) VALUES ($1, $2, $3, $4, $5)', [
      id,
      subjectId,
      key.prefix,
      key.hash,
      name,
    ]);
    return { id, secret: key.secret, prefix: key.prefix };
  }

  /** The live key with this hash and its subject, or null (unknown, revoked, subject deleted). */
  async findByHash(hash: Buffer): Promise<KeyOwner | null> {
    const { rows } = await this.pool.query(
      `SELECT k.id AS key_id, s.id, s.plan, s.anchor, s.overrides, s.created_at, s.updated_at
         FROM api_keys k JOIN subjects s ON s.id = k.subject_id
        WHERE k.hash = $1 AND k.revoked_at IS NULL AND s.deleted_at IS NULL`,
      [hash],
    );
    const row = rows[0];
    return row ? { keyId: row.key_id as string, subject: toSubject(row) } : null;
  }
}
