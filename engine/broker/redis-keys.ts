// The embedded broker's Redis persistence lives under a key prefix of its own run; this removes
// it afterwards, so runs leave nothing behind on a shared Redis. Touches only keys under the prefix.

import { Redis } from 'ioredis';
import { selectDatabase } from '../../aggregator/dedup/redis.ts';

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

export function redisUrl(): string {
  return process.env.REDIS_URL ?? DEFAULT_REDIS_URL;
}

/** Deletes every key starting with `prefix` (which must be non-trivial); returns how many. */
export async function deleteKeysWithPrefix(url: string, prefix: string): Promise<number> {
  if (prefix.length < 8 || !prefix.endsWith(':')) throw new Error(`refusing to delete keys under the prefix '${prefix}'`);
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 2 });
  // Errors reach the caller through the commands; without a listener ioredis prints each with its stack.
  redis.on('error', () => {});
  try {
    await redis.connect();
    await selectDatabase(redis);
    let deleted = 0;
    for await (const keys of redis.scanStream({ match: `${prefix}*`, count: 500 }) as AsyncIterable<string[]>) {
      if (keys.length > 0) deleted += await redis.del(...keys);
    }
    return deleted;
  } finally {
    redis.disconnect();
  }
}
