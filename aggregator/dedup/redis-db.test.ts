// Issue 21: a Redis URL's database index (redis://host:port/5) is honoured, or refused when the
// server has no such database; ioredis alone went on in database 0 then. Against the machine's Redis.

import { describe, expect, it } from 'vitest';
import { redisDatabases } from '../../test-support/redis-databases.ts';
import { RedisDedupStore, redisDatabaseProblem } from './redis.ts';
import { parseDedupSpec } from './registry.ts';
import { deleteKeysWithPrefix } from '../../engine/broker/redis-keys.ts';

const { base: BASE, prefix, db0, db5 } = redisDatabases('test-db');

describe('RedisDedupStore: the database index of its URL', () => {
  it('claims land in database 5 for redis://…/5, none in database 0', async () => {
    const store = new RedisDedupStore({ url: `${BASE}/5`, keyPrefix: prefix });
    try {
      await store.open();
      expect(await store.claimMany(['e1', 'e2'], 60_000)).toEqual(['new', 'new']);
    } finally {
      await store.close();
    }
    expect(await db5.exists(`${prefix}e1`, `${prefix}e2`)).toBe(2);
    expect(await db0.exists(`${prefix}e1`, `${prefix}e2`)).toBe(0);
    // The harness's clean-up after a run removes them from the same database.
    expect(await deleteKeysWithPrefix(`${BASE}/5`, prefix)).toBe(2);
    expect(await db5.exists(`${prefix}e1`)).toBe(0);
  });

  it('redis://…/99, past the server\'s databases: open() refuses, naming the index; no key is written anywhere', async () => {
    const store = new RedisDedupStore({ url: `${BASE}/99`, keyPrefix: prefix });
    try {
      await expect(store.open()).rejects.toThrow("redis database 99 cannot be selected: ERR DB index is out of range (see the server's 'databases' setting)");
    } finally {
      await store.close();
    }
    await expect(deleteKeysWithPrefix(`${BASE}/99`, prefix)).rejects.toThrow('redis database 99 cannot be selected');
    expect(await db0.keys(`${prefix}*`)).toEqual([]);
  });

  it('a path that is not a database index is refused when the spec is parsed', () => {
    expect(parseDedupSpec('redis://127.0.0.1:6379/5')).toEqual({ kind: 'redis', url: 'redis://127.0.0.1:6379/5' });
    for (const path of ['abc', '-1', '1e999', '5abc']) {
      expect(() => parseDedupSpec(`redis://127.0.0.1:6379/${path}`)).toThrow(`the path of a Redis URL is its database index, a number like /5, got '/${path}'`);
    }
  });

  it("what ioredis reads as another database (/1e999 as 1, /5abc as 5, /abc as none: 0, ?db=x likewise) is refused before a connection, by the store and the clean-up too", async () => {
    expect(redisDatabaseProblem(`${BASE}/5`)).toBeUndefined();
    expect(redisDatabaseProblem(`${BASE}/`)).toBeUndefined();
    expect(redisDatabaseProblem(`${BASE}?db=5`)).toBeUndefined();
    expect(redisDatabaseProblem('/var/run/redis.sock')).toBeUndefined(); // a socket path: no index in it
    expect(redisDatabaseProblem(`${BASE}/1e999`)).toBe("the path of a Redis URL is its database index, a number like /5, got '/1e999'");
    expect(redisDatabaseProblem(`${BASE}/5/`)).toBe("the path of a Redis URL is its database index, a number like /5, got '/5/'");
    expect(redisDatabaseProblem(`${BASE}?db=x`)).toBe("the db parameter of a Redis URL is its database index, a number like 5, got 'x'");
    expect(() => new RedisDedupStore({ url: `${BASE}/5abc`, keyPrefix: prefix })).toThrow("got '/5abc'");
    await expect(deleteKeysWithPrefix(`${BASE}/abc`, prefix)).rejects.toThrow("got '/abc'");
  });
});
