import { z } from 'zod';

/** SPEC "Concepts": 1–128 chars of [A-Za-z0-9._:@-]. */
export const SUBJECT_ID_PATTERN = /^[A-Za-z0-9._:@-]{1,128}$/;
export const subjectIdSchema = z.string().regex(SUBJECT_ID_PATTERN, 'must be 1–128 characters of A–Z, a–z, 0–9, ".", "_", ":", "@", "-"');

/** A subject as stored. */
export interface SubjectRecord {
  id: string;
  plan: string;
  /** ms since epoch; null = calendar months (UTC). */
  anchor: number | null;
  overrides: Record<string, number | null>;
  createdAt: Date;
  updatedAt: Date;
}
