/** A Prometheus histogram as exposed: cumulative bucket counts by upper bound, sum and count. */
export interface Histogram {
  /** [upper bound, observations ≤ it], ascending, +Inf last. */
  buckets: [le: number, count: number][];
  sum: number;
  count: number;
}

export const emptyHistogram = (): Histogram => ({ buckets: [], sum: 0, count: 0 });

/** The (label-less) histogram `name` from a Prometheus text exposition; empty when absent. */
export function parseHistogram(text: string, name: string): Histogram {
  const h = emptyHistogram();
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  for (const m of text.matchAll(new RegExp(`^${escaped}_bucket\\{le="([^"]+)"\\} (\\S+)$`, 'gm'))) {
    h.buckets.push([m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[2])]);
  }
  h.buckets.sort((a, b) => a[0] - b[0]);
  h.sum = Number(new RegExp(`^${escaped}_sum (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  h.count = Number(new RegExp(`^${escaped}_count (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  return h;
}

/** The value of the (label-less) counter or gauge `name`; 0 when absent. */
export function parseSample(text: string, name: string): number {
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return Number(new RegExp(`^${escaped} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
}

/** `a + b` bucket by bucket (several processes' histograms of the same metric, or `b` = −before for a delta). */
export function addHistograms(a: Histogram, b: Histogram, sign: 1 | -1 = 1): Histogram {
  if (b.buckets.length === 0) return a;
  if (a.buckets.length === 0) return addHistograms({ buckets: b.buckets.map(([le]) => [le, 0]), sum: 0, count: 0 }, b, sign);
  if (a.buckets.length !== b.buckets.length || a.buckets.some(([le], i) => le !== b.buckets[i]![0])) throw new Error('histograms with different buckets');
  return {
    buckets: a.buckets.map(([le, n], i) => [le, n + sign * b.buckets[i]![1]]),
    sum: a.sum + sign * b.sum,
    count: a.count + sign * b.count,
  };
}

/** Share (0–1) of observations ≤ `le`, which must be a bucket bound: exact, not estimated. */
export function shareAtMost(h: Histogram, le: number): number {
  const bucket = h.buckets.find(([bound]) => bound === le);
  if (!bucket) throw new Error(`${le} is not a bucket bound of the histogram`);
  return h.count > 0 ? bucket[1] / h.count : NaN;
}

/**
 * The q-quantile (0–1) as Prometheus's histogram_quantile() estimates it: linear within the
 * bucket it falls in (from 0 for the first bucket); the highest finite bound when it falls
 * in the +Inf bucket. Also returns that bucket's bounds, which bracket the true value.
 */
export function histogramQuantile(h: Histogram, q: number): { estimate: number; lower: number; upper: number } {
  if (h.count === 0) return { estimate: NaN, lower: NaN, upper: NaN };
  const rank = q * h.count;
  let lower = 0;
  let below = 0;
  for (const [le, n] of h.buckets) {
    if (n >= rank) {
      if (le === Infinity) return { estimate: lower, lower, upper: Infinity };
      return { estimate: lower + ((le - lower) * (rank - below)) / Math.max(1, n - below), lower, upper: le };
    }
    lower = le;
    below = n;
  }
  return { estimate: lower, lower, upper: Infinity };
}
