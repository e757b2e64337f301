/**
 * A child process of `npm run bench:ledger`: one quotagate worker (`startWorker`, configured
 * from the environment exactly as `quotagate worker` is), plus an HTTP endpoint on a free
 * loopback port serving its Prometheus registry, so the benchmark reads the worker's own
 * ledger-lag and batch-size histograms. Prints `listening on <url>`; SIGTERM closes the
 * worker (its batches in progress commit first) and exits.
 *
 * BENCH_CPU_PROF=<file>: record a V8 CPU profile of this process from start to SIGTERM
 * and write it there (a .cpuprofile, for bench/cpu-profile.ts or Chrome's DevTools).
 */
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Session } from 'node:inspector/promises';
import { loadEnv } from '../../src/config/env.js';
import { createLogger } from '../../src/observability/logger.js';
import { startWorker } from '../../src/worker/worker.js';
import { benchPolicy } from '../shared/consume-workload.js';

/** Starts V8's sampling profiler in this process; the returned function stops it and writes the profile. */
async function startProfiler(file: string): Promise<() => Promise<void>> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return async () => {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(file, JSON.stringify(profile));
    session.disconnect();
  };
}

const profileFile = process.env.BENCH_CPU_PROF;
const stopProfiler = profileFile ? await startProfiler(profileFile) : undefined;
const env = loadEnv();
const worker = await startWorker({ env, policy: benchPolicy(), logger: createLogger(env.LOG_LEVEL, 'quotagate-worker') });
const server = createServer((_request, response) => {
  worker.metrics.registry.metrics().then(
    (text) => response.writeHead(200, { 'content-type': worker.metrics.registry.contentType }).end(text),
    (err: Error) => response.writeHead(500).end(err.message),
  );
});
server.listen(0, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${(server.address() as AddressInfo).port}`));
process.once('SIGTERM', () => {
  server.close();
  void worker
    .close()
    .then(() => stopProfiler?.())
    .finally(() => process.exit(0));
});
