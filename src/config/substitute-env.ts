/** `${NAME}` or `${NAME:-default}`; an empty variable counts as unset, as in the environment schema. */
const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Replaces environment references in every string value of a parsed policy document, so
 * one file serves several deployments (e.g. an upstream's address differs in compose).
 * It runs after parsing: a variable's value can never change the document's shape.
 * Returns the new document and one problem per reference to an unset variable without a default.
 */
export function substituteEnv(document: unknown, env: NodeJS.ProcessEnv): { document: unknown; problems: string[] } {
  const problems: string[] = [];
  const walk = (value: unknown, path: string): unknown => {
    if (typeof value === 'string') {
      return value.replace(REFERENCE, (reference, name: string, fallback: string | undefined) => {
        const set = env[name];
        if (set !== undefined && set !== '') return set;
        if (fallback !== undefined) return fallback;
        problems.push(`${path || '(root)'}: ${reference} names an unset environment variable and has no default (write \${${name}:-default})`);
        return reference;
      });
    }
    const at = (key: string | number) => (path ? `${path}.${key}` : String(key));
    if (Array.isArray(value)) return value.map((item, i) => walk(item, at(i)));
    if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v, at(k))]));
    return value;
  };
  return { document: walk(document, ''), problems };
}
