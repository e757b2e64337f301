/** Runs `fn` over `items` with at most `concurrency` calls in flight; the first failure fails the whole. */
export async function forEachConcurrently<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}
