import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';

/**
 * Figures are data first: each benchmark saves what it measured as JSON in
 * bench/results/<benchmark>.json, and bench/render.ts renders every saved run into
 * bench/RESULTS.md. A report can be rewritten and re-rendered without measuring again.
 */
export type Benchmark = 'engine' | 'gateway' | 'gateway-priced-stream' | 'ledger' | 'history';

const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));

/** When and where a run was measured. */
export interface RunInfo {
  /** ISO instant the run finished. */
  at: string;
  cores: number;
  cpuModel: string;
  node: string;
}

export function runInfo(): RunInfo {
  return { at: new Date().toISOString(), cores: cpus().length, cpuModel: cpus()[0]?.model.trim() ?? 'unknown', node: process.version };
}

/**
 * JSON keeps neither Maps nor non-finite numbers; these tags carry them through. Fractions
 * keep 6 significant digits (a latency to the ns, a rate to 0.01 %): the samples of a run
 * are most of a file, and their last digits are noise.
 */
const replacer = (_: string, v: unknown): unknown => {
  if (v instanceof Map) return { $map: [...v] };
  if (typeof v === 'number' && !Number.isFinite(v)) return { $number: String(v) };
  if (typeof v === 'number' && !Number.isInteger(v)) return Number(v.toPrecision(6));
  return v;
};
const reviver = (_: string, v: unknown): unknown => {
  if (v !== null && typeof v === 'object' && '$map' in v) return new Map((v as { $map: [unknown, unknown][] }).$map);
  if (v !== null && typeof v === 'object' && '$number' in v) return Number((v as { $number: string }).$number);
  return v;
};

export function saveFigures(benchmark: Benchmark, figures: unknown): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = `${RESULTS_DIR}${benchmark}.json`;
  writeFileSync(file, `${JSON.stringify(figures, replacer)}\n`);
  return file;
}

/** The figures a benchmark saved last, or undefined when it has never run. */
export function loadFigures<T>(benchmark: Benchmark): T | undefined {
  const file = `${RESULTS_DIR}${benchmark}.json`;
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8'), reviver) as T) : undefined;
}

/** Notes kept by hand for a benchmark (bench/results/<benchmark>.notes.md): what its figures alone do not say. */
export function loadNotes(benchmark: Benchmark): string | undefined {
  const file = `${RESULTS_DIR}${benchmark}.notes.md`;
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined;
}
