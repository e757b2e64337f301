import { describe, expect, it } from 'vitest';
import { loadEnv } from './env.js';
import { ConfigError } from './errors.js';

function problemsOf(source: Record<string, string | undefined>): readonly string[] {
  try {
    loadEnv(source);
  } catch (err) {
    if (err instanceof ConfigError) {
      expect(err.source).toBe('environment');
      return err.problems;
    }
    throw err;
  }
  throw new Error('expected the environment to be refused');
}

describe('loadEnv', () => {
  it('defaults everything to a development machine', () => {
    const env = loadEnv({});
    expect(env).toMatchObject({
      REDIS_URL: 'redis://127.0.0.1:6379',
      QG_KEY_PREFIX: 'qg',
      QG_PARTITIONS: 16,
      QG_IDEMPOTENCY_TTL_SECONDS: 86_400,
      QG_RESERVATION_TTL_SECONDS: 600,
    });
  });

  it('reads numbers from their string form', () => {
    expect(loadEnv({ QG_PARTITIONS: '64', QG_REDIS_COMMAND_TIMEOUT_MS: '1000' })).toMatchObject({
      QG_PARTITIONS: 64,
      QG_REDIS_COMMAND_TIMEOUT_MS: 1000,
    });
  });

  it('treats an empty string as unset, so `FOO= cmd` falls back to the default', () => {
    expect(loadEnv({ QG_PARTITIONS: '', REDIS_URL: '', LOG_LEVEL: '' })).toMatchObject({
      QG_PARTITIONS: 16,
      REDIS_URL: 'redis://127.0.0.1:6379',
      LOG_LEVEL: 'info',
    });
  });

  it('ignores variables it does not know (the environment is shared with everything else)', () => {
    expect(() => loadEnv({ PATH: '/usr/bin', HOME: '/root' })).not.toThrow();
  });

  it('refuses a REDIS_URL that is not a URL', () => {
    expect(problemsOf({ REDIS_URL: '127.0.0.1:6379 ' })).toEqual([expect.stringMatching(/^REDIS_URL: /)]);
  });

  it('refuses a non-numeric QG_PARTITIONS', () => {
    expect(problemsOf({ QG_PARTITIONS: 'sixteen' })).toEqual([expect.stringMatching(/^QG_PARTITIONS: .*number/)]);
  });

  it('refuses a fractional count', () => {
    expect(problemsOf({ QG_PARTITIONS: '1.5' })).toEqual(['QG_PARTITIONS: must be a whole number']);
  });

  it.each([
    ['QG_PARTITIONS', '0'],
    ['QG_PARTITIONS', '4097'],
    ['QG_REDIS_COMMAND_TIMEOUT_MS', '5'],
    ['QG_IDEMPOTENCY_TTL_SECONDS', '59'],
    ['QG_RESERVATION_TTL_SECONDS', '-1'],
    ['QG_COUNTER_GRACE_SECONDS', String(91 * 86_400)],
  ])('refuses %s=%s (out of range)', (name, value) => {
    expect(problemsOf({ [name]: value })).toEqual([expect.stringMatching(new RegExp(`^${name}: Too (small|big)`))]);
  });

  it('refuses an unknown LOG_LEVEL and a key prefix Redis keys cannot carry', () => {
    expect(problemsOf({ LOG_LEVEL: 'verbose' })).toEqual([expect.stringMatching(/^LOG_LEVEL: /)]);
    expect(problemsOf({ QG_KEY_PREFIX: 'has space' })).toEqual([expect.stringMatching(/^QG_KEY_PREFIX: must be 1–64 chars/)]);
  });

  it('leaves notification webhooks off by default, with the abuse rate at 60 denials a minute', () => {
    const env = loadEnv({});
    expect(env.QG_NOTIFY_URL).toBeUndefined();
    expect(env.QG_NOTIFY_SECRET).toBeUndefined();
    expect(env.QG_ABUSE_DENIALS_PER_MINUTE).toBe(60);
  });

  it('accepts a notification URL with its secret', () => {
    expect(loadEnv({ QG_NOTIFY_URL: 'https://hooks.example.com/quotagate', QG_NOTIFY_SECRET: 'x'.repeat(16) })).toMatchObject({
      QG_NOTIFY_URL: 'https://hooks.example.com/quotagate',
      QG_NOTIFY_SECRET: 'x'.repeat(16),
    });
  });

  it('refuses QG_NOTIFY_URL without QG_NOTIFY_SECRET, naming the secret', () => {
    expect(problemsOf({ QG_NOTIFY_URL: 'https://hooks.example.com/quotagate' })).toEqual([expect.stringMatching(/^QG_NOTIFY_SECRET: is required when QG_NOTIFY_URL is set/)]);
    expect(problemsOf({ QG_NOTIFY_URL: 'https://hooks.example.com/quotagate', QG_NOTIFY_SECRET: '' })).toEqual([expect.stringMatching(/^QG_NOTIFY_SECRET: is required/)]);
  });

  it('refuses a short QG_NOTIFY_SECRET, a QG_NOTIFY_URL that is not http(s) and an abuse rate below 1', () => {
    expect(problemsOf({ QG_NOTIFY_URL: 'https://h.example.com', QG_NOTIFY_SECRET: 'short' })).toEqual(['QG_NOTIFY_SECRET: must be at least 16 characters']);
    expect(problemsOf({ QG_NOTIFY_URL: 'ftp://h.example.com', QG_NOTIFY_SECRET: 'x'.repeat(16) })).toEqual(['QG_NOTIFY_URL: must be an http(s) URL']);
    expect(problemsOf({ QG_ABUSE_DENIALS_PER_MINUTE: '0' })).toEqual([expect.stringMatching(/^QG_ABUSE_DENIALS_PER_MINUTE: Too small/)]);
  });

  it('reads QG_REDIS_CLUSTER as a boolean, and refuses a database in a Cluster URL', () => {
    expect(loadEnv({}).QG_REDIS_CLUSTER).toBe(false);
    expect(loadEnv({ QG_REDIS_CLUSTER: 'true', REDIS_URL: 'redis://10.0.0.1:7000' }).QG_REDIS_CLUSTER).toBe(true);
    expect(problemsOf({ QG_REDIS_CLUSTER: 'yes' })).toEqual(["QG_REDIS_CLUSTER: must be 'true' or 'false'"]);
    expect(problemsOf({ QG_REDIS_CLUSTER: 'true', REDIS_URL: 'redis://10.0.0.1:7000/2' })).toEqual([expect.stringMatching(/^REDIS_URL: must not name a database/)]);
  });

  it('reports every bad variable at once', () => {
    const found = problemsOf({ REDIS_URL: 'nope', QG_PARTITIONS: 'x', LOG_LEVEL: 'loud' });
    expect(found.map((p) => p.split(':')[0]).sort()).toEqual(['LOG_LEVEL', 'QG_PARTITIONS', 'REDIS_URL']);
  });

  it('reads the Stripe and Paddle webhook secrets as lists (several while rotating), each at least 16 characters', () => {
    expect(loadEnv({}).STRIPE_WEBHOOK_SECRET).toBeUndefined();
    expect(loadEnv({ STRIPE_WEBHOOK_SECRET: 'whsec_0123456789abcdef' }).STRIPE_WEBHOOK_SECRET).toEqual(['whsec_0123456789abcdef']);
    expect(loadEnv({ PADDLE_WEBHOOK_SECRET: 'pdl_ntfset_new_0123456789, pdl_ntfset_old_0123456789' }).PADDLE_WEBHOOK_SECRET).toEqual([
      'pdl_ntfset_new_0123456789',
      'pdl_ntfset_old_0123456789',
    ]);
    expect(problemsOf({ STRIPE_WEBHOOK_SECRET: 'whsec_0123456789abcdef,whsec_short' })).toEqual(['STRIPE_WEBHOOK_SECRET.1: each secret must be at least 16 characters']);
    expect(problemsOf({ PADDLE_WEBHOOK_SECRET: 'pdl_ntfset_new_0123456789,' })).toEqual(['PADDLE_WEBHOOK_SECRET.1: each secret must be at least 16 characters']);
  });
});
