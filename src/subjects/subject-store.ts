import type { Pool } from 'pg';
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

/** Subjects in Postgres (soft-deleted ones are invisible). */
export class SubjectStore {
  constructor(private readonly pool: Pool) {}

  /** Creates the subject; returns null when the id is taken. */
  async create(subject: { id: string; plan: string; anchor?: number | null; overrides?: Record<string, number | null> }): Promise<SubjectRecord | null> {
    const { rows } = await this.pool.query<SubjectRow>(
      `INSERT INTO subjects (id, plan, anchor, overrides) VALUES ($1, $2, $3, $4)
       ON CONFLICT (id) DO NOTHING RETURNING ${COLUMNS}`,
      [subject.id, subject.plan, subject.anchor == null ? null : new Date(subject.anchor), JSON.stringify(subject.overrides ?? {})],
    );
    return rows[0] ? toSubject(rows[0]) : null;
  }

  async get(id: string): Promise<SubjectRecord | null> {
    const { rows } = await this.pool.query<SubjectRow>(`SELECT ${COLUMNS} FROM subjects WHERE id = $1 AND deleted_at IS NULL`, [id]);
    return rows[0] ? toSubject(rows[0]) : null;
  }
}
