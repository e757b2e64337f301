import { readFileSync } from 'node:fs';

/** The parts of a V8 `.cpuprofile` (inspector Profiler.stop) read here. */
interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  /** Sampled time, ms, and the part of it the process was not idle. */
  totalMs: number;
  busyMs: number;
  /** Self time by where the code lives (src/ledger, pg, ioredis, bullmq, ...), busiest first. */
  byArea: { area: string; ms: number }[];
  /** Busiest functions by self time. */
  topSelf: { fn: string; ms: number }[];
  /** src/ functions by inclusive time (their callees too), busiest first. */
  srcInclusive: { fn: string; ms: number }[];
}

type Frame = CpuProfile['nodes'][number]['callFrame'];

const ROOT_DIR = process.cwd();
/** V8's pseudo-frames: not code of anyone's. */
const PSEUDO = /^\((garbage collector|idle|program|root)\)$/;

/**
 * `name file:line`, the file shortened to its repository or package path. TypeScript that
 * tsx compiled on the fly gets no line: its lines are the generated code's, not the source's.
 */
function functionKey(frame: Frame): string {
  const url = frame.url
    .replace(/^file:\/\//, '')
    .replace(`${ROOT_DIR}/`, '')
    .replace(/^.*\/node_modules\//, '');
  const name = frame.functionName || '(anonymous)';
  if (!url) return name;
  return url.endsWith('.ts') ? `${name} ${url}` : `${name} ${url}:${frame.lineNumber + 1}`;
}

function area(frame: Frame): string {
  const { url } = frame;
  if (url.includes('/src/ledger/')) return 'src/ledger';
  if (url.includes('/node_modules/')) return url.replace(/^.*\/node_modules\/((?:@[^/]+\/)?[^/]+)\/.*$/, '$1');
  if (url.includes('/src/')) return 'src (other)';
  if (url.startsWith('node:')) return 'Node internals';
  return 'other';
}

/**
 * Summarises a `.cpuprofile`: where the process's CPU time went. Built-ins and native code
 * (JSON.stringify, Buffer writes, ...) have no file of their own: their time is charged to
 * the area of the nearest caller that has one, and they are listed with that caller.
 */
export function summariseProfile(file: string, top = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const stack = function* (id: number) {
    for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) yield byId.get(n)!.callFrame;
  };

  // Sample i lasts until sample i + 1 (the last one gets no time).
  const selfMs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfMs.set(id, (selfMs.get(id) ?? 0) + (profile.timeDeltas[i + 1] ?? 0) / 1000));

  const add = (m: Map<string, number>, k: string, ms: number) => m.set(k, (m.get(k) ?? 0) + ms);
  const areas = new Map<string, number>();
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let totalMs = 0;
  let idleMs = 0;
  for (const [id, ms] of selfMs) {
    const frame = byId.get(id)!.callFrame;
    totalMs += ms;
    if (frame.functionName === '(idle)') {
      idleMs += ms;
      continue;
    }
    if (PSEUDO.test(frame.functionName)) {
      add(areas, frame.functionName, ms);
      add(self, frame.functionName, ms);
      continue;
    }
    const caller = frame.url ? frame : [...stack(id)].find((f) => f.url);
    add(areas, caller ? area(caller) : 'other', ms);
    add(self, frame.url || !caller ? functionKey(frame) : `${functionKey(frame)} ← ${functionKey(caller)}`, ms);
    // Each src/ function on the stack once, however often it recurs.
    const onStack = new Set<string>();
    for (const f of stack(id)) if (f.url.includes('/src/')) onStack.add(functionKey(f));
    for (const k of onStack) add(inclusive, k, ms);
  }
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]);
  return {
    totalMs,
    busyMs: totalMs - idleMs,
    byArea: sorted(areas).map(([a, ms]) => ({ area: a, ms })),
    topSelf: sorted(self)
      .slice(0, top)
      .map(([fn, ms]) => ({ fn, ms })),
    srcInclusive: sorted(inclusive)
      .slice(0, top)
      .map(([fn, ms]) => ({ fn, ms })),
  };
}

const pct = (ms: number, of: number) => `${((100 * ms) / of).toFixed(1)}%`;
const ms0 = (ms: number) => Math.round(ms).toLocaleString('en-US');

/**
 * The summary as Markdown tables, shares of the busy (non-idle) time. Inclusive time is
 * what ran on a function's stack: an async function's callees after an await count, the
 * socket writes its calls lead to on a later tick do not.
 */
export function profileMarkdown(s: ProfileSummary): string {
  const rows = (items: { name: string; ms: number }[]) => items.map((i) => `| ${i.name.replaceAll('|', '\\|')} | ${ms0(i.ms)} | ${pct(i.ms, s.busyMs)} |`).join('\n');
  return [
    `Sampled ${ms0(s.totalMs)} ms, of which ${ms0(s.busyMs)} ms busy (shares below are of the busy time).`,
    '',
    '| area (self time) | ms | share |\n|---|--:|--:|',
    rows(s.byArea.map((a) => ({ name: a.area, ms: a.ms }))),
    '',
    '| function (self time) | ms | share |\n|---|--:|--:|',
    rows(s.topSelf.map((f) => ({ name: `\`${f.fn}\``, ms: f.ms }))),
    '',
    '| src/ function (inclusive time) | ms | share |\n|---|--:|--:|',
    rows(s.srcInclusive.map((f) => ({ name: `\`${f.fn}\``, ms: f.ms }))),
  ].join('\n');
}
