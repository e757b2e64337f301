/** A whole number > 0 from the environment variable `name`, or `fallback` when it is unset or empty. */
export function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  const value = raw ? Number(raw) : fallback;
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a whole number > 0, got "${raw}"`);
  return value;
}
