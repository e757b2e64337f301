import type { RedisClient } from './client.js';
import type { KeySchema } from './keys.js';

/** Subjects denied more than the limit in one minute, with their denial count. */
export interface MinuteDenials {
  /** The minute's start, ms. */
  minute: number;
  subjects: { subjectId: string; denials: number }[];
}

/**
 * Reads the denial tallies lua/consume.lua counts (`keys.denials(p, minuteStart)`: subject →
 * quota, rate and concurrency denials in that minute) of every partition for the given
 * minutes, keeping the subjects above `limit`. One pipeline per partition, all sent at once:
 * a Cluster pipeline must stay within one slot.
 */
export async function readDenialsAbove(redis: RedisClient, keys: KeySchema, minutes: readonly number[], limit: number): Promise<MinuteDenials[]> {
  const readPartition = (p: number) => {
    const pipeline = redis.pipeline();
    for (const minute of minutes) pipeline.zrangebyscore(keys.denials(p, minute), `(${limit}`, '+inf', 'WITHSCORES');
    return pipeline.exec();
  };
  const byPartition = await Promise.all(Array.from({ length: keys.partitions }, (_, p) => readPartition(p)));
  return byPartition.flatMap((replies) =>
    (replies ?? []).map(([err, reply], i) => {
      if (err) throw err;
      const flat = reply as string[];
      const subjects: MinuteDenials['subjects'] = [];
      for (let j = 0; j + 1 < flat.length; j += 2) subjects.push({ subjectId: flat[j]!, denials: Number(flat[j + 1]) });
      return { minute: minutes[i]!, subjects };
    }),
  );
}
