import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { ConfigError, formatIssues } from './errors.js';
import { policySchema, type Policy } from './policy.js';
import { substituteEnv } from './substitute-env.js';

/** Validates an already-parsed policy document; `source` names it in errors. */
export function parsePolicy(document: unknown, source = 'policy'): Policy {
  const parsed = policySchema.safeParse(document);
  if (!parsed.success) throw new ConfigError(source, formatIssues(parsed.error.issues));
  return parsed.data;
}

/** Reads a policy file (`.json`, else YAML), fills in `${NAME:-default}` references from `env`, and validates it. */
export function loadPolicyFile(path: string, env: NodeJS.ProcessEnv = process.env): Policy {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError('POLICY_FILE', [`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`]);
  }
  let document: unknown;
  try {
    document = extname(path).toLowerCase() === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    const where = err instanceof YAMLParseError && err.linePos ? ` at line ${err.linePos[0].line}` : '';
    throw new ConfigError(path, [`not valid ${extname(path) === '.json' ? 'JSON' : 'YAML'}${where}: ${(err as Error).message.split('\n')[0]}`]);
  }
  const substituted = substituteEnv(document, env);
  if (substituted.problems.length > 0) throw new ConfigError(path, substituted.problems);
  return parsePolicy(substituted.document, path);
}
