import { cpus } from 'node:os';
import type { Redis } from 'ioredis';
import type { Pool } from 'pg';
import { backendCpuSeconds } from './database.js';
import { machineCpu } from '../shared/load.js';
import { redisStats } from '../shared/redis-stats.js';

/** Cumulative CPU counters at one instant; two of them make a `CpuSpent`. */
export interface CpuReading {
  /** performance.now(), ms. */
  at: number;
  machineBusyMs: number;
  machineTotalMs: number;
  /** This process (the load generator, or the raw-insert client). */
  self: number;
  workers: number;
  redis: number;
  /** The Postgres backends serving the benchmark's database. */
  postgres: number;
}

/** CPU seconds each party used between two readings, and the whole machine's use in cores. */
export interface CpuSpent {
  seconds: number;
  self: number;
  workers: number;
  redis: number;
  postgres: number;
  machineCores: number;
  /** Cores busy with anything else: Postgres's own background processes, the OS, other work on the machine. */
  otherCores: number;
}

export interface CpuSources {
  redis?: Redis;
  pool?: Pool;
  workers?: () => number;
}

/** Reads every counter the sources allow (0 for those not given). */
export async function readCpu(sources: CpuSources): Promise<CpuReading> {
  const [redis, postgres] = await Promise.all([sources.redis ? redisStats(sources.redis).then((s) => s.cpuSeconds) : 0, sources.pool ? backendCpuSeconds(sources.pool) : 0]);
  const { busy, total } = machineCpu();
  const self = process.cpuUsage();
  return {
    at: performance.now(),
    machineBusyMs: busy,
    machineTotalMs: total,
    self: (self.user + self.system) / 1e6,
    workers: sources.workers?.() ?? 0,
    redis,
    postgres,
  };
}

export function cpuSpent(a: CpuReading, b: CpuReading): CpuSpent {
  const seconds = (b.at - a.at) / 1000;
  const machineCores = b.machineTotalMs > a.machineTotalMs ? ((b.machineBusyMs - a.machineBusyMs) / (b.machineTotalMs - a.machineTotalMs)) * cpus().length : NaN;
  const spent = { self: b.self - a.self, workers: b.workers - a.workers, redis: b.redis - a.redis, postgres: b.postgres - a.postgres };
  const known = spent.self + spent.workers + spent.redis + spent.postgres;
  return { seconds, ...spent, machineCores, otherCores: Math.max(0, machineCores - known / seconds) };
}
