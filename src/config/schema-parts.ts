import { z } from 'zod';

/** Pieces shared by the policy's schemas (policy.ts, metering-policy.ts). */

export const named = (what: string, pattern: RegExp) => z.string().regex(pattern, `${what} must match ${pattern.source}`);

export const wholeNumber = z.number().int('must be a whole number').min(0, 'must be ≥ 0');

/**
 * Where a value is read from: `body.<json path>` / `query.<name>` / `header.<name>` on the
 * request, `response.<json path>` / `header.<name>` on the response.
 */
export const requestSource = z.string().regex(/^(body|query|header)\.[A-Za-z0-9_.-]+$/, 'must be body.<path>, query.<name> or header.<name>');
export const responseSource = z.string().regex(/^(response|header)\.[A-Za-z0-9_.-]+$/, 'must be response.<path> or header.<name>');

export type Loose = Record<string, unknown>;
export type AddIssue = (issue: { code: 'custom'; path: PropertyKey[]; message: string }) => void;

/** Reading a document that may not have passed its schema (cross-reference checks run anyway). */
export const looseRecord = (value: unknown): Loose => (value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Loose) : {});
export const looseList = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
