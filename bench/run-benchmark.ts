/**
 * Runs a benchmark's `main`, and its `cleanup` whatever happens: after main, after an
 * error (exit code 1), and on SIGINT/SIGTERM (bounded by `graceMs`, then exit 130), so no
 * child process or private Redis outlives the benchmark.
 */
export function runBenchmark(main: () => Promise<void>, cleanup: () => Promise<void>, graceMs = 10_000): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.error(`\n${signal}: stopping`);
      const timeout = new Promise((r) => setTimeout(r, graceMs).unref());
      void Promise.race([cleanup(), timeout]).finally(() => process.exit(130));
    });
  }
  main()
    .catch((err: unknown) => {
      console.error(err instanceof Error ? (err.stack ?? err.message) : err);
      process.exitCode = 1;
    })
    .finally(() => cleanup().catch((err: unknown) => console.error(`cleanup failed: ${String(err)}`)));
}
