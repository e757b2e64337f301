import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * Debian's Chromium for browser tests, installed by the test setup itself: playwright's own
 * browser download does not work here (closed network), Debian's package does. When it is
 * missing, it is installed with apt-get as root or through passwordless sudo; when neither
 * is possible the browser tests are skipped with the reason, except under CI, where a
 * skipped browser test would hide a broken setup, so it fails instead.
 */

/** Where Debian's package puts it; CHROMIUM_PATH overrides. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** apt-get waits this long for another apt/dpkg (another session, unattended upgrades) to finish. */
const LOCK_TIMEOUT_SECONDS = 600;

export type ChromiumLookup = { path: string; skip?: undefined } | { path?: undefined; skip: string };

/** How apt-get can be run with root rights here, or why it can't. */
function aptGetCommand(): { command: string; prefix: string[] } | { reason: string } {
  if (process.getuid?.() === 0) return { command: 'apt-get', prefix: [] };
  if (spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0) return { command: 'sudo', prefix: ['-n', 'apt-get'] };
  return { reason: 'this user is not root and has no passwordless sudo' };
}

function aptGet(apt: { command: string; prefix: string[] }, args: string[], log: (line: string) => void): boolean {
  log(`${apt.command} ${[...apt.prefix, ...args].join(' ')}`);
  const run = spawnSync(apt.command, [...apt.prefix, ...args], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
  });
  if (run.status !== 0) log(`failed (${run.status ?? run.signal}): ${run.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  return run.status === 0;
}

/** Chromium's path, installing Debian's package first when it is missing; or why it can't be had. */
export function ensureChromium(log: (line: string) => void = (line) => process.stderr.write(`[chromium] ${line}\n`)): ChromiumLookup {
  const found = (): ChromiumLookup | undefined => (existsSync(CHROMIUM) ? { path: CHROMIUM } : undefined);
  const ready = found();
  if (ready) return ready;
  const apt = aptGetCommand();
  let reason: string;
  if ('reason' in apt) {
    reason = `${CHROMIUM} is missing and cannot be installed: ${apt.reason}. Install it with "apt-get install chromium" (or set CHROMIUM_PATH)`;
  } else {
    const install = ['install', '-y', '--no-install-recommends', '-o', `DPkg::Lock::Timeout=${LOCK_TIMEOUT_SECONDS}`, 'chromium'];
    // A machine's package lists may be stale or absent: update once, then try again.
    if (aptGet(apt, install, log) || (aptGet(apt, ['update', '-o', `DPkg::Lock::Timeout=${LOCK_TIMEOUT_SECONDS}`], log) && aptGet(apt, install, log))) {
      const installed = found();
      if (installed) return installed;
    }
    reason = `${CHROMIUM} is missing and "apt-get install chromium" did not provide it (see the lines above)`;
  }
  if (process.env.CI) throw new Error(`browser tests must run in CI: ${reason}`);
  log(`SKIPPING browser tests: ${reason}`);
  return { skip: reason };
}

/** Flags for headless Chromium on a machine without outside network, running as root. */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
