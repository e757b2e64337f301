import type { SubjectRef } from '../quota/types.js';
import type { SubjectRecord } from './subject.js';

/** What the engine needs of a stored subject. */
export const subjectRef = (s: SubjectRecord): SubjectRef => ({ id: s.id, plan: s.plan, anchor: s.anchor, overrides: s.overrides });
