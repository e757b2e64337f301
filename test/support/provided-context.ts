/**
 * What test/support/global-setup.ts hands to every test file through vitest's
 * provide/inject. Read it through the helpers in services.ts rather than directly.
 */
export type ServiceSource = 'env' | 'local' | 'container' | 'spawned';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The Redis every test shares; isolate with uniquePrefix(), never flush it. */
    redisUrl: string;
    /** This run's own, migrated database; dropped at the end of the run. */
    databaseUrl: string;
    /** The server's maintenance database, for tests that need a database of their own. */
    adminDatabaseUrl: string;
    /** Every Redis key this run writes starts with it (`qgt<random>`). */
    keyPrefixBase: string;
    /** Where each service came from; shows in failures and the run's first line. */
    serviceSources: { redis: ServiceSource; postgres: ServiceSource };
  }
}
