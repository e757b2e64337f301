import type { HydrationData, HydrationRequest, Hydrator } from '../quota/hydration.js';

export type Backend = 'redis' | 'postgres';

/**
 * An error of a named store. An engine call can fail in Redis (the script) or in Postgres
 * (a hydration): the tag lets `quotagate_backend_errors_total` tell them apart.
 */
export class BackendError extends Error {
  constructor(
    readonly backend: Backend,
    cause: unknown,
  ) {
    super(`${backend}: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'BackendError';
  }
}

/** The store an engine call's error came from: Redis unless a hydration tagged it. */
export const backendOf = (err: unknown): Backend => (err instanceof BackendError ? err.backend : 'redis');

/** `work`, its failure tagged as a Postgres error. */
export const fromPostgres = <T>(work: Promise<T>): Promise<T> =>
  work.catch((err: unknown) => {
    throw new BackendError('postgres', err);
  });

/** A hydrator whose failures are tagged as Postgres errors. */
export function postgresTagged(hydrator: Hydrator): Hydrator {
  return { load: (request: HydrationRequest): Promise<HydrationData> => fromPostgres(hydrator.load(request)) };
}
