import type { ProviderPlans } from '../config/policy.js';

/**
 * The plan a subscription's items map to under the policy's `billing.<provider>`: the first
 * item whose price id is mapped, else the first whose product id is; null when none is, and
 * undefined when there are no items to say anything. `prices` lists what was looked up, for
 * the record; `index` is the item that decided.
 */
export function planOf(
  plans: ProviderPlans,
  items: readonly { price?: string | undefined; product?: string | undefined }[],
): { plan: string | null | undefined; prices: string[]; index: number | null } {
  const prices = items.flatMap((i) => (i.price !== undefined ? [i.price] : i.product !== undefined ? [i.product] : []));
  const byPrice = items.findIndex((i) => i.price !== undefined && plans.prices[i.price] !== undefined);
  if (byPrice >= 0) return { plan: plans.prices[items[byPrice]!.price!]!, prices, index: byPrice };
  const byProduct = items.findIndex((i) => i.product !== undefined && plans.products[i.product] !== undefined);
  if (byProduct >= 0) return { plan: plans.products[items[byProduct]!.product!]!, prices, index: byProduct };
  return { plan: items.length === 0 ? undefined : null, prices, index: null };
}
