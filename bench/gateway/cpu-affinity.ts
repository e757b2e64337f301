import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Which cores the proxy under test gets, and which everything else shares (taskset CPU lists). */
export interface CoreSplit {
  proxy: string;
  rest: string;
}

/** The CPUs this process may run on (Linux: Cpus_allowed_list), or [] where that is unknown. */
function allowedCpus(): number[] {
  let status: string;
  try {
    status = readFileSync('/proc/self/status', 'utf8');
  } catch {
    return [];
  }
  const list = /^Cpus_allowed_list:\s*(\S+)/m.exec(status)?.[1] ?? '';
  return list.split(',').flatMap((range) => {
    const [from, to] = range.split('-').map(Number);
    const last = to ?? from;
    if (from === undefined || last === undefined || !Number.isInteger(from) || !Number.isInteger(last)) return [];
    return Array.from({ length: last - from + 1 }, (_, i) => from + i);
  });
}

/**
 * The last allowed core for the proxy under test, the others for everything else; null
 * where processes cannot be pinned (fewer than two cores, or no `taskset`). Left to the
 * scheduler, the four busy processes of a run land on the cores differently from one run
 * to the next, and the maximum a proxy reaches moves with them.
 */
export function splitCores(): CoreSplit | null {
  const cpus = allowedCpus();
  if (cpus.length < 2 || spawnSync('taskset', ['-V'], { stdio: 'ignore' }).status !== 0) return null;
  return { proxy: String(cpus.at(-1)), rest: cpus.slice(0, -1).join(',') };
}

/** Pins every thread of this process to `cpuList`; processes it starts afterwards inherit it. */
export function pinThisProcess(cpuList: string): void {
  const result = spawnSync('taskset', ['-a', '-p', '-c', cpuList, String(process.pid)], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`taskset -a -p -c ${cpuList} ${process.pid} failed: ${result.stderr.trim()}`);
}
