/**
 * Whether `err` says Postgres could not be reached or dropped the connection — an outage
 * the caller may retry — rather than a bug or a refused statement.
 */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
/** SQLSTATE classes: 08 connection exception, 53 insufficient resources, 57P operator intervention (shutdown). */
const OUTAGE_SQLSTATE = /^(08|53|57P)/;
/** What pg and pg-pool throw without a code when a connection fails or ends, or a query outlives query_timeout. */
const OUTAGE_MESSAGE =
  /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection terminated unexpectedly|Query read timeout)/;

export function isPostgresOutage(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (NETWORK_CODES.has(code) || OUTAGE_SQLSTATE.test(code))) return true;
  if (err instanceof AggregateError) return err.errors.some(isPostgresOutage);
  return OUTAGE_MESSAGE.test(err.message);
}
