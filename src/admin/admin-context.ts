import type { Context } from 'hono';
import type { AuditActor } from '../audit/audit-log.js';
import { ProblemError } from '../http/problem.js';
import type { SubjectRecord } from '../subjects/subject.js';
import type { AdminDeps } from './admin-deps.js';

/** The acting admin and the reason given, for the audit log. */
export const actorOf = (c: Context, reason?: string | null): AuditActor => ({ actor: c.get('actor'), reason: reason ?? null });

/** The live subject, or a 404 naming it. */
export async function subjectOr404(admin: AdminDeps, id: string): Promise<SubjectRecord> {
  const subject = await admin.subjects.get(id);
  if (!subject) throw notFound(id);
  return subject;
}

export const notFound = (id: string) => new ProblemError('not_found', `no subject "${id}"`, { field: 'id' });
