import { InvalidArgumentError } from '@commander-js/extra-typings';

/**
 * Parsers for option and argument values. They only turn text into the type the command
 * needs; ranges and meaning are the gateway's to judge (it names the field in its 400).
 * A value they reject is a usage error (exit 2), reported by commander with the option name.
 */

export function wholeNumber(value: string): number {
  if (!/^-?\d+$/.test(value)) throw new InvalidArgumentError('must be a whole number');
  return Number(value);
}

export function port(value: string): number {
  const n = /^\d{1,5}$/.test(value) ? Number(value) : NaN;
  if (!(n <= 65_535)) throw new InvalidArgumentError('must be a port number from 0 to 65535');
  return n;
}

/** An ISO 8601 date-time with a time zone (as the API takes them), as ms. */
export function instant(value: string): number {
  const ms = /^\d{4}-\d{2}-\d{2}T.*(Z|[+-]\d{2}:\d{2})$/.test(value) ? Date.parse(value) : NaN;
  if (Number.isNaN(ms)) throw new InvalidArgumentError('must be an ISO 8601 date-time with a time zone, e.g. 2026-12-01T00:00:00Z');
  return ms;
}
