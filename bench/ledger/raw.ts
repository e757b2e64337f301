import { Client } from 'pg';
import type { LedgerEvent } from '../../src/ledger/ledger-event.js';
import { eventsJson, INSERT_EVENTS } from '../../src/ledger/usage-events-insert.js';
import { processCpuSeconds } from '../shared/process-cpu.js';

/**
 * The database's own insert rate, the baseline of the flush figures: the same rows as the
 * flusher writes, into `usage_events` alone, with LedgerWriter's insert (the batch as one
 * JSON parameter) and the same batch size and number of connections, one
 * transaction per batch; but no counters, no ON CONFLICT / RETURNING, no Redis, no job queue.
 */
export interface RawInsert {
  rows: number;
  seconds: number;
  /** CPU seconds of the Postgres backends that did the inserts. */
  postgresCpu: number;
  /** CPU seconds of this process meanwhile (node-postgres sending the parameters). */
  clientCpu: number;
}

export async function rawInsert(databaseUrl: string, events: readonly LedgerEvent[], batchSize: number, connections: number): Promise<RawInsert> {
  // Built before the clock starts: the baseline times the database and the driver, not building rows.
  const batches: string[][] = [];
  for (let i = 0; i < events.length; i += batchSize) batches.push([eventsJson(events.slice(i, i + batchSize))]);
  const clients = Array.from({ length: connections }, () => new Client({ connectionString: databaseUrl, application_name: 'quotagate-bench-raw' }));
  try {
    await Promise.all(clients.map((c) => c.connect()));
    const pids = await Promise.all(clients.map(async (c) => (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid));
    const backendCpu = () => pids.reduce((sum, pid) => sum + processCpuSeconds(pid), 0);
    const cpu0 = backendCpu();
    const self0 = process.cpuUsage();
    const t0 = performance.now();
    let next = 0;
    await Promise.all(
      clients.map(async (client) => {
        while (next < batches.length) await client.query(INSERT_EVENTS, batches[next++]);
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    const self = process.cpuUsage(self0);
    const postgresCpu = backendCpu() - cpu0;
    const { rows } = await clients[0]!.query<{ n: string }>('SELECT count(*) AS n FROM usage_events');
    if (Number(rows[0]!.n) !== events.length) throw new Error(`the raw insert left ${rows[0]!.n} rows in usage_events, expected ${events.length}`);
    return { rows: events.length, seconds, postgresCpu, clientCpu: (self.user + self.system) / 1e6 };
  } finally {
    await Promise.all(clients.map((c) => c.end().catch(() => {})));
  }
}
