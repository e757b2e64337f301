/**
 * `npm run bench:render`: renders bench/RESULTS.md from the figures the benchmarks saved
 * (bench/results/*.json). Every benchmark calls it after saving its own, so RESULTS.md
 * always shows the last run of each.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { engineReport, type ReportInput as EngineFigures } from './engine/report.js';
import { gatewayReport, type ReportInput as GatewayFigures } from './gateway/report.js';
import { historyReport, type ReportInput as HistoryFigures } from './history/report.js';
import { ledgerReport, type ReportInput as LedgerFigures } from './ledger/report.js';
import { loadFigures, loadNotes, type Benchmark } from './shared/results.js';

const RESULTS_FILE = fileURLToPath(new URL('./RESULTS.md', import.meta.url));

export function renderResults(): string {
  const sections: [title: string, markdown: string][] = [
    ['Engine (npm run bench:engine)', section<EngineFigures>('engine', (f) => engineReport(f).markdown)],
    ['Gateway (npm run bench:gateway)', section<GatewayFigures>('gateway', (f) => gatewayReport(f).markdown)],
    ['Gateway, priced streamed chat (npm run bench:gateway:priced)', section<GatewayFigures>('gateway-priced-stream', (f) => gatewayReport(f).markdown)],
    ['Ledger (npm run bench:ledger)', section<LedgerFigures>('ledger', (f) => ledgerReport(f).markdown)],
    ['History (npm run bench:history)', section<HistoryFigures>('history', (f) => historyReport(f).markdown)],
  ];
  const text = [
    '# Benchmark results',
    '',
    'Rendered by `npm run bench:render` from the figures each benchmark saved in `bench/results/` (see `package.json` for the commands).',
    ...sections.flatMap(([title, markdown]) => ['', `## ${title}`, '', markdown]),
    '',
  ].join('\n');
  writeFileSync(RESULTS_FILE, text);
  return RESULTS_FILE;
}

/** The benchmark's last saved figures rendered, then its notes. */
function section<T>(benchmark: Benchmark, render: (figures: T) => string): string {
  const saved = loadFigures<T>(benchmark);
  const notes = loadNotes(benchmark);
  return [saved === undefined ? '_Not run yet._' : render(saved).trim(), ...(notes ? ['', notes] : [])].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(`wrote ${renderResults()}`);
