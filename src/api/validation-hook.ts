import type { Hook } from '@hono/zod-openapi';
import type { Env } from 'hono';
import { formatIssues } from '../config/errors.js';
import { ProblemError } from '../http/problem.js';

/**
 * A request that fails its zod schema is a 400 problem naming every offending field
 * (`field` is the first; `errors` lists them all). Nothing has been charged at that point.
 */
export const validationHook: Hook<unknown, Env, string, unknown> = (result) => {
  if (result.success) return;
  const issues = result.error.issues;
  // An unrecognized key (strict schemas) is named itself, not its parent object.
  const errors = issues.flatMap((issue) => {
    const path = issue.path.map(String);
    const fields = issue.code === 'unrecognized_keys' ? issue.keys.map((key) => [...path, key].join('.')) : [path.join('.') || result.target];
    return fields.map((field) => ({ field, message: issue.message }));
  });
  throw new ProblemError('invalid_request', formatIssues(issues).join('; '), { field: errors[0]?.field, errors });
};
