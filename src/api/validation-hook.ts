import type { Hook } from '@hono/zod-openapi';
import type { Env } from 'hono';
import { formatIssues } from '../config/errors.js';
import { ProblemError } from '../http/problem.js';
import { UNSTORABLE_TEXT_MESSAGE, unstorableTextPath } from '../lib/storable-text.js';

/**
 * Every input of every OpenAPI route (body, query, path parameters, headers) passes here
 * after its zod schema. A request that fails the schema is a 400 problem naming every
 * offending field (`field` is the first; `errors` lists them all). One that passes is
 * still refused if any of its strings holds text Postgres cannot store (storable-text.ts):
 * checked here once, for every route present and future, rather than in each schema.
 * Nothing has been charged at that point.
 */
export const validationHook: Hook<unknown, Env, string, unknown> = (result) => {
  if (result.success) {
    const path = unstorableTextPath(result.data);
    if (path) {
      const field = path.join('.') || result.target;
      throw new ProblemError('invalid_request', `${field}: ${UNSTORABLE_TEXT_MESSAGE}`, { field, errors: [{ field, message: UNSTORABLE_TEXT_MESSAGE }] });
    }
    return;
  }
  const issues = result.error.issues;
  // An unrecognized key (strict schemas) is named itself, not its parent object.
  const errors = issues.flatMap((issue) => {
    const path = issue.path.map(String);
    const fields = issue.code === 'unrecognized_keys' ? issue.keys.map((key) => [...path, key].join('.')) : [path.join('.') || result.target];
    return fields.map((field) => ({ field, message: issue.message }));
  });
  throw new ProblemError('invalid_request', formatIssues(issues).join('; '), { field: errors[0]?.field, errors });
};
