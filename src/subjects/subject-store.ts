import type { Pool } from 'pg';
import type { Queryable } from '../db/transaction.js';
import type { SubjectRecord } from './subject.js';

interface SubjectRow {
  id: string;
  plan: string;
  anchor: Date | null;
  overrides: Record<string, number | null>;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = 'id, plan, anchor, overrides, created_at, updated_at';

export const toSubject = (row: SubjectRow): SubjectRecord => ({
  id: row.id,
  plan: row.plan,
  anchor: row.anchor?.getTime() ?? null,
  overrides: row.overrides,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

export interface SubjectChange {
  plan?: string;
  /** ms; null = calendar months. */
  anchor?: number | null;
  overrides?: Record<string, number | null>;
}

/**
 * Subjects in Postgres (soft-deleted ones are invisible). Methods that change a subject
 * take the transaction's client, so the caller writes its audit entry in the same one.
 */
export class SubjectStore {
  constructor(private readonly pool: Pool) {}

  /** Creates the subject; returns null when the id is taken (also by a deleted subject). */
  async create(subject: { id: string; plan: string; anchor?: number | null; overrides?: Record<string, number | null> }, db: Queryable = this.pool): Promise<SubjectRecord | null> {
    const { rows } = await db.query<SubjectRow>(
      `INSERT INTO subjects (id, plan, anchor, overrides) VALUES ($1, $2, $3, $4)
       ON CONFLICT (id) DO NOTHING RETURNING ${COLUMNS}`,
      [subject.id, subject.plan, subject.anchor == null ? null : new Date(subject.anchor), JSON.stringify(subject.overrides ?? {})],
    );
    return rows[0] ? toSubject(rows[0]) : null;
  }

  async get(id: string, db: Queryable = this.pool): Promise<SubjectRecord | null> {
    const { rows } = await db.query<SubjectRow>(`SELECT ${COLUMNS} FROM subjects WHERE id = $1 AND deleted_at IS NULL`, [id]);
    return rows[0] ? toSubject(rows[0]) : null;
  }

  /** Reads the subject and locks its row until the transaction ends: changes to one subject take turns. */
  async lock(id: string, db: Queryable): Promise<SubjectRecord | null> {
    const { rows } = await db.query<SubjectRow>(`SELECT ${COLUMNS} FROM subjects WHERE id = $1 AND deleted_at IS NULL FOR UPDATE`, [id]);
    return rows[0] ? toSubject(rows[0]) : null;
  }

  async update(id: string, change: SubjectChange, db: Queryable): Promise<SubjectRecord> {
    const { rows } = await db.query<SubjectRow>(
      `UPDATE subjects
          SET plan = coalesce($2, plan),
              anchor = CASE WHEN $3::boolean THEN $4::timestamptz ELSE anchor END,
              overrides = coalesce($5::jsonb, overrides)
        WHERE id = $1 AND deleted_at IS NULL
        RETURNING ${COLUMNS}`,
      [
        id,
        change.plan ?? null,
        change.anchor !== undefined,
        change.anchor == null ? null : new Date(change.anchor),
        change.overrides === undefined ? null : JSON.stringify(change.overrides),
      ],
    );
    if (!rows[0]) throw new Error(`subject ${id} vanished inside its own transaction`);
    return toSubject(rows[0]);
  }

  /** Soft-deletes the subject and revokes its keys; false when there was none. */
  async delete(id: string, db: Queryable): Promise<boolean> {
    const { rowCount } = await db.query(`UPDATE subjects SET deleted_at = now() WHERE id = $1 AND deleted_at IS NULL`, [id]);
    if (!rowCount) return false;
    await db.query(`UPDATE api_keys SET revoked_at = now() WHERE subject_id = $1 AND revoked_at IS NULL`, [id]);
    return true;
  }

  /** A page of subjects in id order, after `after`, optionally of one plan. */
  async list(options: { after?: string; limit: number; plan?: string }): Promise<SubjectRecord[]> {
    const { rows } = await this.pool.query<SubjectRow>(
      `SELECT ${COLUMNS} FROM subjects
        WHERE deleted_at IS NULL AND ($1::text IS NULL OR id > $1) AND ($2::text IS NULL OR plan = $2)
        ORDER BY id LIMIT $3`,
      [options.after ?? null, options.plan ?? null, options.limit],
    );
    return rows.map(toSubject);
  }
}
