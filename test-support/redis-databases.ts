// Two admin connections to the machine's Redis (REDIS_URL), to databases 0 and 5, and a fresh key
// prefix: for tests that check a URL's database index is honoured (keys in 5, none in 0). Every key
// under the prefix, in both databases, is deleted and the connections closed after the file's
// tests (afterAll: call at a test file's top level).

import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll } from 'vitest';

export function redisDatabases(name: string): { base: string; prefix: string; db0: Redis; db5: Redis } {
  const base = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const prefix = `chaosbench:${name}:${randomUUID()}:`;
  const admins = [0, 5].map((db) => new Redis(`${base}/${db}`, { maxRetriesPerRequest: 2 }));
  afterAll(async () => {
    for (const admin of admins) {
      const keys = await admin.keys(`${prefix}*`);
      if (keys.length > 0) await admin.del(...keys);
      admin.disconnect();
    }
  });
  return { base, prefix, db0: admins[0]!, db5: admins[1]! };
}
