import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // Finds real Redis and Postgres, creates and migrates this run's database.
    globalSetup: ['test/support/global-setup.ts'],
    // Child processes rather than worker threads: tests spawn redis-server children and
    // open many sockets, and a crash in one file must not take the others down.
    pool: 'forks',
    fileParallelism: true,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Global teardown drops the database and may stop containers.
    teardownTimeout: 60_000,
  },
});
