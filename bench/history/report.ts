import type { RunInfo } from '../shared/results.js';

/** What `npm run bench:history` measured; saved as bench/results/history.json. */
export interface ReportInput {
  run: RunInfo;
  postgres: string;
  events: number;
  subjects: number;
  repeat: number;
  fillSeconds: number;
  rollupRows: number;
  backfillSeconds: number;
  /** Each query, in the order run: what it is and its p50 / p95 in ms. */
  queries: { what: string; p50: number; p95: number }[];
}

const n = (v: number) => v.toLocaleString('en-US');
const ms = (v: number) => v.toFixed(v < 10 ? 2 : 1);

export function historyReport(f: ReportInput): { markdown: string } {
  return {
    markdown: [
      `${f.run.at.slice(0, 10)}, PostgreSQL ${f.postgres}, ${f.run.cores} cores (${f.run.cpuModel}). A ledger of ${n(f.events)} events over the last 60 days, ${n(f.subjects)} subjects (a fifth of the events for one heavy subject), made with one generate_series insert in ${f.fillSeconds.toFixed(1)} s.`,
      '',
      `Backfill (rebuild_usage_rollups over the whole ledger, as migration 007 does): ${n(f.rollupRows)} hourly rollup rows in ${f.backfillSeconds.toFixed(1)} s (${n(Math.round(f.events / f.backfillSeconds))} events/s).`,
      '',
      `| Query (${f.repeat} runs after a warm-up) | p50 ms | p95 ms |`,
      '|---|---|---|',
      ...f.queries.map((q) => `| ${q.what} | ${ms(q.p50)} | ${ms(q.p95)} |`),
    ].join('\n'),
  };
}
