import autocannon from 'autocannon';
import { Pool } from 'undici';
import { ROUTE, REQUEST_BODY } from './workload.js';
import { percentile } from '../shared/stats.js';

/** Headers of the n-th request of a run (they carry the API key). */
export type HeadersFor = (n: number) => Record<string, string>;

export interface LoadRun {
  /** Responses received, whatever their status. */
  responses: number;
  seconds: number;
  /** Responses per second. */
  rate: number;
  /** Each response's latency, ms, to µs precision: send to end of body. */
  latenciesMs: number[];
  /** Responses by status code. */
  statuses: Map<number, number>;
  /** Requests that got no response (connection errors, timeouts). */
  errors: number;
}

export interface PacedRun {
  /** Each target's share of the run, in the order given. */
  targets: LoadRun[];
  /** How late the generator sent, p99 (ms): the pacing's own error. */
  sendLagP99Ms: number;
}

const count = (statuses: Map<number, number>, status: number) => statuses.set(status, (statuses.get(status) ?? 0) + 1);

/**
 * Closed loop, autocannon: `connections` keep-alive connections each send the next request
 * as soon as the last is answered: the most the server does at that concurrency. The run
 * ends after `amount` responses rather than after a duration, so that no request is cut off
 * in flight: every counted response is whole and the servers see no aborted requests.
 *
 * autocannon only notices the end at its next sample tick (`sampleInt`, 1 s by default),
 * and its `duration` has that granularity, so the run's time here is measured from the
 * start to the last response. Latencies come from its per-response times (its own
 * histogram keeps whole milliseconds only).
 */
export async function closedLoop(url: string, opts: { connections: number; amount: number }, headersFor: HeadersFor): Promise<LoadRun> {
  let n = 0;
  const latenciesMs: number[] = [];
  const statuses = new Map<number, number>();
  const started = performance.now();
  let lastResponse = started;
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const options: autocannon.Options = {
      url,
      connections: opts.connections,
      amount: opts.amount,
      // A short tick, so that the servers sit idle only briefly after the last response.
      sampleInt: 20,
      requests: [
        {
          method: ROUTE.method,
          path: ROUTE.path,
          body: REQUEST_BODY,
          setupRequest: (request) => ({ ...request, headers: { ...request.headers, ...headersFor(n++) } }),
        },
      ],
    };
    const instance = autocannon(options, (err, done) => (err ? reject(err) : resolve(done)));
    instance.on('response', (_client, status, _bytes, ms) => {
      lastResponse = performance.now();
      count(statuses, status);
      latenciesMs.push(ms);
    });
  });
  const seconds = (lastResponse - started) / 1000;
  return { responses: latenciesMs.length, seconds, rate: latenciesMs.length / seconds, latenciesMs, statuses, errors: result.errors };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Open loop at a fixed rate: request i is sent at start + i/rate whether or not earlier
 * ones were answered (over up to `connections` keep-alive connections per target), so a
 * slow answer delays no later request and the latencies are the server's at that rate.
 * The requests go to the targets in turn, `block` at a time: each target serves `rate`
 * while it is its turn, and a pause of the machine (they come, on a shared machine) falls
 * on all of them alike instead of on whichever had the machine to itself at the time.
 *
 * autocannon's overallRate is not used for this: it lets each connection send its quota
 * for the second back to back and then wait for the next second, so every second starts
 * with a burst at full concurrency and its latencies are those of a saturated server.
 */
export async function openLoop(urls: readonly string[], opts: { rate: number; durationMs: number; connections: number; block: number }, headersFor: HeadersFor): Promise<PacedRun> {
  const targets = urls.map((url) => ({
    pool: new Pool(url, { connections: opts.connections, pipelining: 1, keepAliveTimeout: 30_000 }),
    latenciesMs: [] as number[],
    statuses: new Map<number, number>(),
    errors: 0,
  }));
  const lagsMs: number[] = [];
  const send = async (n: number) => {
    const target = targets[Math.floor(n / opts.block) % targets.length]!;
    const sentAt = performance.now();
    try {
      const response = await target.pool.request({ method: ROUTE.method, path: ROUTE.path, headers: headersFor(n), body: REQUEST_BODY });
      await response.body.text();
      target.latenciesMs.push(performance.now() - sentAt);
      count(target.statuses, response.statusCode);
    } catch {
      target.errors++;
    }
  };

  const interval = 1000 / opts.rate;
  const total = Math.round((opts.rate * opts.durationMs) / 1000);
  const inFlight: Promise<void>[] = [];
  const started = performance.now();
  try {
    for (let sent = 0; sent < total;) {
      // Every request whose time has come goes now; then sleep until the next one is due.
      const now = performance.now();
      for (; sent < total && started + sent * interval <= now; sent++) {
        lagsMs.push(now - (started + sent * interval));
        inFlight.push(send(sent));
      }
      if (sent < total) await sleep(started + sent * interval - performance.now());
    }
    await Promise.all(inFlight);
  } finally {
    await Promise.all(targets.map((t) => t.pool.close()));
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    targets: targets.map(({ latenciesMs, statuses, errors }) => ({ responses: latenciesMs.length, seconds, rate: latenciesMs.length / seconds, latenciesMs, statuses, errors })),
    sendLagP99Ms: percentile(lagsMs, 99),
  };
}
