import { describe, expect, it } from 'vitest';
import { SqliteSink } from '../sink/sqlite.ts';
import { MemoryDedupStore } from './memory.ts';
import { NoDedupStore } from './none.ts';
import { PostgresDedupStore } from './postgres.ts';
import { RedisDedupStore } from './redis.ts';
import { createDedupStore, DEDUP_KINDS, parseDedupSpec } from './registry.ts';
import { SqliteDedupStore } from './sqlite.ts';

const VALID_KINDS =
  'valid kinds are memory, none, sqlite, sqlite:<path>, redis, redis://<host>:<port>, postgres, postgres://<user>@<host>:<port>/<database>';

describe('parseDedupSpec', () => {
  it('parses every kind, and a path for sqlite', () => {
    expect(parseDedupSpec('memory')).toEqual({ kind: 'memory' });
    expect(parseDedupSpec('none')).toEqual({ kind: 'none' });
    expect(parseDedupSpec('sqlite')).toEqual({ kind: 'sqlite' });
    expect(parseDedupSpec('sqlite:./data/dedup.db')).toEqual({ kind: 'sqlite', path: './data/dedup.db' });
    expect(parseDedupSpec('sqlite:C:\\data\\dedup.db')).toEqual({ kind: 'sqlite', path: 'C:\\data\\dedup.db' });
    expect(parseDedupSpec('redis')).toEqual({ kind: 'redis' });
    expect(parseDedupSpec('postgres')).toEqual({ kind: 'postgres' });
  });

  it('parses a URL for redis and postgres, keeping it as given', () => {
    expect(parseDedupSpec('redis://127.0.0.1:6379')).toEqual({ kind: 'redis', url: 'redis://127.0.0.1:6379' });
    expect(parseDedupSpec('rediss://user:secret@cache.example:6380/2')).toEqual({
      kind: 'redis',
      url: 'rediss://user:secret@cache.example:6380/2',
    });
    expect(parseDedupSpec('postgres://postgres@127.0.0.1:5432/test')).toEqual({
      kind: 'postgres',
      url: 'postgres://postgres@127.0.0.1:5432/test',
    });
    expect(parseDedupSpec('postgresql://app@db.example/events')).toEqual({ kind: 'postgres', url: 'postgresql://app@db.example/events' });
    expect(parseDedupSpec('REDIS://127.0.0.1')).toEqual({ kind: 'redis', url: 'REDIS://127.0.0.1' });
  });

  it('names every valid kind when the kind is unknown', () => {
    expect([...DEDUP_KINDS].sort()).toEqual(['memory', 'none', 'postgres', 'redis', 'sqlite']);
    for (const bad of ['mongodb', 'Memory', '', 'mongodb:localhost', 'mysql://127.0.0.1:3306/test', 'postgresql', 'http://127.0.0.1:6379']) {
      expect(() => parseDedupSpec(bad), bad).toThrow(`unknown dedup store '${bad}': ${VALID_KINDS}`);
    }
  });

  it('rejects a path on a kind that takes none, and an empty path', () => {
    expect(() => parseDedupSpec('memory:./x.db')).toThrow(/takes no path/);
    expect(() => parseDedupSpec('sqlite:')).toThrow(/empty path/);
  });

  it('asks for a URL when redis or postgres is given something else after the colon', () => {
    expect(() => parseDedupSpec('redis:localhost')).toThrow(
      `dedup store 'redis' takes a URL like redis://<host>:<port> (got 'redis:localhost'): ${VALID_KINDS}`,
    );
    expect(() => parseDedupSpec('postgres:test')).toThrow(/takes a URL like postgres:\/\/<user>@<host>:<port>\/<database>/);
  });

  it('rejects a URL without a host or that does not parse', () => {
    expect(() => parseDedupSpec('redis://')).toThrow("dedup store 'redis://' names no host: use redis://<host>:<port>");
    expect(() => parseDedupSpec('postgres://user@:5432/test')).toThrow(/names no host|not a valid URL/);
    expect(() => parseDedupSpec('redis://127.0.0.1:notaport')).toThrow("dedup store 'redis://127.0.0.1:notaport' is not a valid URL");
  });
});

describe('createDedupStore', () => {
  it('builds each kind', async () => {
    const memory = createDedupStore('memory', { maxEntries: 5 });
    expect(memory).toBeInstanceOf(MemoryDedupStore);
    expect((memory as MemoryDedupStore).maxEntries).toBe(5);
    const none = createDedupStore({ kind: 'none' });
    expect(none).toBeInstanceOf(NoDedupStore);
    await memory.close();
    await none.close();
  });

  it('builds redis and postgres without connecting, with their URL, namespace and schema', async () => {
    // Nothing listens on port 1: creating a store must not touch the server (it connects on open()).
    const redis = createDedupStore('redis://127.0.0.1:1', { namespace: 'agg-1' });
    expect(redis).toBeInstanceOf(RedisDedupStore);
    expect((redis as RedisDedupStore).keyPrefix).toBe('chaosbench:dedup:agg-1:');
    expect((redis as RedisDedupStore).redis.options.port).toBe(1);
    const defaultNamespace = createDedupStore('redis');
    expect((defaultNamespace as RedisDedupStore).keyPrefix).toBe('chaosbench:dedup:default:');
    const postgres = createDedupStore('postgres://someone@127.0.0.1:1/somewhere');
    expect(postgres).toBeInstanceOf(PostgresDedupStore);
    expect((postgres as PostgresDedupStore).schema).toBe('chaosbench');
    expect((postgres as PostgresDedupStore).pool.options).toMatchObject({ connectionString: 'postgres://someone@127.0.0.1:1/somewhere' });
    const named = createDedupStore('postgres', { schema: 'elsewhere' });
    expect((named as PostgresDedupStore).schema).toBe('elsewhere');
    for (const store of [redis, defaultNamespace, postgres, named]) await store.close();
  });

  it("shares the sink's database for 'sqlite' without a path, and needs a sink for it", async () => {
    expect(() => createDedupStore('sqlite')).toThrow(/no SQLite sink was given/);
    const sink = new SqliteSink({ path: ':memory:', mode: 'idempotent' });
    let nowMs = 0;
    const store = createDedupStore('sqlite', { sink, now: () => nowMs });
    expect(store).toBeInstanceOf(SqliteDedupStore);
    expect((store as SqliteDedupStore).db).toBe(sink.db);
    expect(store.claimerFor?.(sink)).toBeTypeOf('function');
    // The injected clock reaches the store.
    await store.claimMany(['a'], 10);
    nowMs = 10;
    expect(await store.claimMany(['a'], 10)).toEqual(['new']);
    await store.close();
    await sink.close();
  });
});
