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

/**
 * Undo steps of a benchmark: `push` each as its resource is made; `run` (the cleanup given
 * to runBenchmark) runs them last-in first-out, each whatever the others do, once.
 */
export function teardownSteps(): { push(step: () => Promise<unknown> | void): void; run(): Promise<void> } {
  const steps: (() => Promise<unknown> | void)[] = [];
  let running: Promise<void> | undefined;
  return {
    push: (step) => void steps.push(step),
    run: () =>
      (running ??= (async () => {
        for (const step of steps.reverse()) {
          try {
            await step();
          } catch (err) {
            console.error(`cleanup: ${err instanceof Error ? err.message : String(err)}`);
          }
        }
      })()),
  };
}
