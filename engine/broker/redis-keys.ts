// The embedded broker's Redis persistence lives under a key prefix of its own run; this removes
// it afterwards, so runs leave nothing behind on a shared Redis. Touches only keys under the prefix.

import { Redis } from 'ioredis';
import { redisDatabaseProblem, selectDatabase } from '../../aggregator/dedup/redis.ts';

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

export function redisUrl(): string {
  return process.env.REDIS_URL ?? DEFAULT_REDIS_URL;
}

/** The longest a clean-up waits for the server to answer at all (connect, ready check, SELECT), and for any one command. */
export const REDIS_CLEANUP_TIMEOUT_MS = 5_000;

/**
 * Deletes every key starting with `prefix` (which must be non-trivial); returns how many. Bounded: one
 * connection attempt, REDIS_CLEANUP_TIMEOUT_MS for the server to answer and for each command, so a
 * server that is down or never answers makes it throw, never hang.
 */
export async function deleteKeysWithPrefix(url: string, prefix: string): Promise<number> {
  if (prefix.length < 8 || !prefix.endsWith(':')) throw new Error(`refusing to delete keys under the prefix '${prefix}'`);
  // ioredis would read '/abc' as database 0 and '/1e999' as 1: never delete in a database not named.
  const database = redisDatabaseProblem(url);
  if (database) throw new Error(database);
  const redis = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
    connectTimeout: REDIS_CLEANUP_TIMEOUT_MS,
    commandTimeout: REDIS_CLEANUP_TIMEOUT_MS,
  });
  // Errors reach the caller through the commands; without a listener ioredis prints each with its stack.
  // The connection's own error (ECONNREFUSED) says more than the "Connection is closed." connect() rejects with.
  let connectionError: Error | undefined;
  redis.on('error', (error: Error) => (connectionError ??= error));
  let timer: NodeJS.Timeout | undefined;
  try {
    // A server that accepts the connection and never answers holds the ready check forever: a deadline of our own.
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${REDIS_CLEANUP_TIMEOUT_MS / 1000} s (timed out)`)), REDIS_CLEANUP_TIMEOUT_MS);
    });
    await Promise.race([redis.connect().then(() => selectDatabase(redis)), deadline]).catch((error: unknown) => {
      throw connectionError && /Connection is closed/.test((error as Error).message) ? connectionError : error;
    });
    clearTimeout(timer);
    let deleted = 0;
    for await (const keys of redis.scanStream({ match: `${prefix}*`, count: 500 }) as AsyncIterable<string[]>) {
      if (keys.length > 0) deleted += await redis.del(...keys);
    }
    return deleted;
  } finally {
    clearTimeout(timer);
    redis.disconnect();
  }
}
