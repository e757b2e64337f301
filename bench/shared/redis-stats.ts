import type { Redis } from 'ioredis';

/** What the server has spent so far: CPU seconds and per-command calls and time (INFO). */
export interface RedisStats {
  cpuSeconds: number;
  commands: Map<string, { calls: number; usec: number; failed: number }>;
}

export async function redisStats(redis: Redis): Promise<RedisStats> {
  const [cpu, commandstats] = await Promise.all([redis.info('cpu'), redis.info('commandstats')]);
  const field = (name: string) => Number(new RegExp(`^${name}:([0-9.]+)`, 'm').exec(cpu)?.[1] ?? NaN);
  const commands = new Map<string, { calls: number; usec: number; failed: number }>();
  for (const m of commandstats.matchAll(/^cmdstat_([a-z|_-]+):calls=(\d+),usec=(\d+).*?(?:failed_calls=(\d+))?\s*$/gm)) {
    commands.set(m[1]!, { calls: Number(m[2]), usec: Number(m[3]), failed: Number(m[4] ?? 0) });
  }
  return { cpuSeconds: field('used_cpu_user') + field('used_cpu_sys'), commands };
}

/** What the server spent between two snapshots (commands that ran at least once). */
export function statsDelta(before: RedisStats, after: RedisStats): RedisStats {
  const commands = new Map<string, { calls: number; usec: number; failed: number }>();
  for (const [name, a] of after.commands) {
    const b = before.commands.get(name) ?? { calls: 0, usec: 0, failed: 0 };
    if (a.calls > b.calls) commands.set(name, { calls: a.calls - b.calls, usec: a.usec - b.usec, failed: a.failed - b.failed });
  }
  return { cpuSeconds: after.cpuSeconds - before.cpuSeconds, commands };
}

/** The server's version, e.g. "7.0.15". */
export async function redisVersion(redis: Redis): Promise<string> {
  return /^redis_version:(\S+)/m.exec(await redis.info('server'))?.[1] ?? 'unknown';
}
