/**
 * Whether Postgres refused a statement for the data it was given — something about the
 * rows themselves, which sending them again will not change — rather than being
 * unreachable (connection-error.ts) or a bug in the statement. SQLSTATE classes:
 * 21 cardinality violation, 22 data exception (invalid text, out-of-range values),
 * 23 integrity constraint violation, 54 program limit exceeded (e.g. an index row too large).
 */
const DATA_SQLSTATE = /^(21|22|23|54)/;

export function isDataError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && DATA_SQLSTATE.test(code);
}
