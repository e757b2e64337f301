/** Largest amount accepted anywhere: far above any real charge, well inside exact integers. */
export const MAX_AMOUNT = 1_000_000_000_000;

/** A caller broke the engine's contract (unknown metric, bad amount): a bug upstream of it. */
export class EngineInputError extends Error {
  override name = 'EngineInputError';
}

/** The decision reached Redis after its caller stopped waiting; nothing was applied. */
export class DecisionExpiredError extends Error {
  override name = 'DecisionExpiredError';
}

/** Redis kept answering "needs hydration" after the ledger values were written back. */
export class HydrationError extends Error {
  override name = 'HydrationError';
}

export function checkAmount(amount: number): void {
  if (!Number.isSafeInteger(amount) || amount < 0 || amount > MAX_AMOUNT) {
    throw new EngineInputError(`amount must be a whole number from 0 to ${MAX_AMOUNT}`);
  }
}
