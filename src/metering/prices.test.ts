import { describe, expect, it } from 'vitest';
import { costOf, maxCostOf, pricesOf, type PriceTable } from './prices.js';

const table: PriceTable = {
  per_tokens: 1_000_000,
  models: {
    'gpt-4o-mini': { input: 150, output: 600, cached_input: 75 },
    'gpt-4o*': { input: 2500, output: 10000 },
    'claude-*': { input: 3000, output: 15000, cache_write: 3750, cached_input: 300 },
  },
  aliases: { 'my-default': 'gpt-4o-mini', 'latest-claude': 'claude-*' },
};

describe('model prices', () => {
  it('finds a model by name, then alias, then the first glob in file order', () => {
    expect(pricesOf(table, 'gpt-4o-mini')?.input).toBe(150);
    expect(pricesOf(table, 'gpt-4o-mini-2024-07-18')?.input).toBe(2500); // only the glob matches a dated name
    expect(pricesOf(table, 'my-default')?.input).toBe(150);
    expect(pricesOf(table, 'latest-claude')?.input).toBe(3000);
    expect(pricesOf(table, 'claude-sonnet-4-20250514')?.cache_write).toBe(3750);
    expect(pricesOf(table, 'gemini-2.5-flash')).toBeUndefined();
  });

  it('remembers resolved names per table, and stays right past the bound and after a reload', () => {
    for (let i = 0; i < 2_500; i++) expect(pricesOf(table, `gpt-4o-${i}`)?.input).toBe(2500);
    expect(pricesOf(table, 'gpt-4o-mini')?.input).toBe(150);
    expect(pricesOf(table, 'gemini-2.5-flash')).toBeUndefined();
    // A reloaded policy's table with other prices for the same names.
    const reloaded: PriceTable = { ...table, models: { 'gpt-4o*': { input: 1, output: 2 } }, aliases: {} };
    expect(pricesOf(reloaded, 'gpt-4o-mini')?.input).toBe(1);
    expect(pricesOf(reloaded, 'gpt-4o-7')?.input).toBe(1);
    expect(pricesOf(table, 'gpt-4o-7')?.input).toBe(2500);
  });

  it('charges every class at its price (cached and cache writes default to input, reasoning to output), rounded up once', () => {
    const prices = table.models['gpt-4o-mini']!;
    // 1000×150 + 2000×75 + 0 + 300×600 + 100×600 = 540000 per million → 0.54 → 1
    expect(costOf({ input: 1000, cached_input: 2000, cache_write: 0, output: 300, reasoning: 100 }, prices, 1_000_000)).toBe(1);
    expect(costOf({ input: 1000, cached_input: 2000, cache_write: 0, output: 300, reasoning: 100 }, prices, 1)).toBe(540_000);
    expect(costOf({ input: 0, cached_input: 0, cache_write: 0, output: 0, reasoning: 0 }, prices, 1_000_000)).toBe(0);
    // Exactly divisible: no rounding.
    expect(costOf({ input: 2_000_000, cached_input: 0, cache_write: 0, output: 0, reasoning: 0 }, prices, 1_000_000)).toBe(300);
    expect(costOf({ input: 2_000_001, cached_input: 0, cache_write: 0, output: 0, reasoning: 0 }, prices, 1_000_000)).toBe(301);
  });

  it('stays exact where a float product would not (products past 2^53)', () => {
    const prices = { input: 4_000_000_003, output: 0 };
    const tokens = { input: 3_000_000_001, cached_input: 0, cache_write: 0, output: 0, reasoning: 0 };
    const exact = (3_000_000_001n * 4_000_000_003n + 999_999n) / 1_000_000n;
    expect(costOf(tokens, prices, 1_000_000)).toBe(Number(exact));
    expect(Math.ceil((3_000_000_001 * 4_000_000_003) / 1_000_000)).not.toBe(Number(exact));
  });

  it('agrees with BigInt arithmetic on either side of 2^53', () => {
    for (let i = 0; i < 2_000; i++) {
      const amount = Math.floor(Math.random() * 10 ** (3 + (i % 7)));
      const price = Math.floor(Math.random() * 10 ** (2 + (i % 8)));
      const per = [1, 1_000, 1_000_000, 7][i % 4]!;
      const tokens = { input: amount, cached_input: i, cache_write: 0, output: amount, reasoning: 0 };
      const exact = (BigInt(amount) * BigInt(price) * 3n + BigInt(i) * BigInt(price) + BigInt(per) - 1n) / BigInt(per);
      expect(costOf(tokens, { input: price, output: 2 * price }, per)).toBe(Number(exact));
    }
  });

  it('a reservation prices each side at its dearest class', () => {
    const claude = table.models['claude-*']!;
    expect(maxCostOf({ input: 1000, output: 100 }, claude, 1_000_000)).toBe(Math.ceil((1000 * 3750 + 100 * 15000) / 1_000_000));
  });
});
