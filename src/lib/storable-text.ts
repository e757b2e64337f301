/**
 * Text Postgres cannot store. `text` and `jsonb` refuse U+0000 ("invalid byte sequence",
 * "unsupported Unicode escape sequence"), and a lone UTF-16 surrogate has no UTF-8 form:
 * JSON.stringify writes it as a `\udXXX` escape that jsonb refuses, and as a text parameter
 * it would silently turn into U+FFFD. Such text is refused at every input (400 naming the
 * field); whatever still reaches the ledger is set aside by the flusher (dead letters).
 */

export const UNSTORABLE_TEXT_MESSAGE = 'must not contain U+0000 or unpaired UTF-16 surrogates';

export const isStorableText = (s: string): boolean => !s.includes('\u0000') && s.isWellFormed();

/**
 * The path of the first string in `value` — an object key or a value, at any depth — that
 * Postgres cannot store, or null when there is none.
 */
export function unstorableTextPath(value: unknown, path: readonly (string | number)[] = []): (string | number)[] | null {
  if (typeof value === 'string') return isStorableText(value) ? null : [...path];
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const found = unstorableTextPath(item, [...path, i]);
      if (found) return found;
    }
    return null;
  }
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    for (const [key, item] of Object.entries(value)) {
      if (!isStorableText(key)) return [...path, key];
      const found = unstorableTextPath(item, [...path, key]);
      if (found) return found;
    }
  }
  return null;
}

/** `value` with U+0000 and every lone surrogate replaced by U+FFFD, in keys and values at any depth. */
export function sanitiseText<T>(value: T): T {
  if (typeof value === 'string') return value.replaceAll('\u0000', '\uFFFD').toWellFormed() as T;
  if (Array.isArray(value)) return value.map(sanitiseText) as T;
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [sanitiseText(k), sanitiseText(v)])) as T;
  }
  return value;
}
