/** A NUL, or a UTF-16 surrogate without its partner: text Postgres refuses (in text and jsonb alike). */
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * The path (`a.b.0.c`) of the first string or key in a parsed JSON value that Postgres cannot
 * store, or null when all of it can be: such input is refused at the edge (SPEC invariant 13)
 * instead of failing the statement that would store it.
 */
export function unstorablePath(value: unknown, path: string[] = []): string | null {
  if (typeof value === 'string') return UNSTORABLE.test(value) ? path.join('.') || '(root)' : null;
  if (value === null || typeof value !== 'object') return null;
  for (const [key, item] of Array.isArray(value) ? value.entries() : Object.entries(value)) {
    const at = [...path, String(key)];
    if (typeof key === 'string' && UNSTORABLE.test(key)) return at.join('.');
    const found = unstorablePath(item, at);
    if (found !== null) return found;
  }
  return null;
}
