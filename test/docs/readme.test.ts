import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { envSchema } from '../../src/config/env.js';
import { billingSchema, metricSchema, planSchema, policySchema, providerPlansSchema, rateSchema, reservedChargeSchema, routeSchema } from '../../src/config/policy.js';

const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');

/** The README's configuration reference is checked against the schemas, so it cannot drift. */
describe('README configuration reference', () => {
  it('documents every environment variable with its default', () => {
    const defaults: Record<string, unknown> = envSchema.parse({});
    for (const name of Object.keys(envSchema.shape)) {
      const value = defaults[name];
      const row = readme.split('\n').find((line) => line.startsWith(`| \`${name}\` |`));
      expect(row, `README row for ${name}`).toBeDefined();
      // A variable without a default (optional) shows `(none)` in the default column.
      expect(row).toContain(value === undefined ? `| \`${name}\` | (none) |` : `\`${String(value)}\``);
    }
  });

  it('documents no environment variable that does not exist', () => {
    const documented = [...readme.matchAll(/^\| `([A-Z][A-Z0-9_]+)` \|/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual(Object.keys(envSchema.shape).sort());
  });

  it('shows every route key in the policy example', () => {
    for (const key of Object.keys(routeSchema.shape)) expect(readme, `route key ${key}`).toMatch(new RegExp(`^\\s+-?\\s*${key}:`, 'm'));
  });

  it('shows every other policy key in the policy example', () => {
    const example = /### Policy file[\s\S]*?```yaml\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    const keys = {
      policy: Object.keys(policySchema.shape),
      metric: Object.keys(metricSchema.shape),
      plan: Object.keys(planSchema.shape),
      rate: Object.keys(rateSchema.shape),
      charge: Object.keys(reservedChargeSchema.shape),
      reserve: Object.keys(reservedChargeSchema.shape.reserve.shape),
      billing: Object.keys(billingSchema.shape),
      provider: Object.keys(providerPlansSchema.shape),
    };
    for (const [where, names] of Object.entries(keys)) {
      for (const key of names) expect(example, `${where} key ${key}`).toMatch(new RegExp(`(^|[\\s{,-])${key}:`, 'm'));
    }
  });
});
