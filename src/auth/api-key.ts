import { createHash, randomBytes } from 'node:crypto';

/** API keys are `qg_` + 43 base64url chars (256 random bits). */
export const API_KEY_PATTERN = /^qg_[A-Za-z0-9_-]{43}$/;
/** Characters of the secret kept in listings so an operator can tell keys apart. */
const VISIBLE_CHARS = 10;

export interface NewApiKey {
  /** Shown once, to the caller that created it; never stored. */
  secret: string;
  /** The first characters, safe to list. */
  prefix: string;
  hash: Buffer;
}

/** SHA-256 of the secret: what the database stores and lookups use. */
export const hashApiKey = (secret: string): Buffer => createHash('sha256').update(secret).digest();

export function generateApiKey(): NewApiKey {
  const secret = `qg_${randomBytes(32).toString('base64url')}`;
  return { secret, prefix: secret.slice(0, VISIBLE_CHARS), hash: hashApiKey(secret) };
}
