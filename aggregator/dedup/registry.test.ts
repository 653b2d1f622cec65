import { describe, expect, it } from 'vitest';
import { SqliteSink } from '../sink/sqlite.ts';
import { MemoryDedupStore } from './memory.ts';
import { NoDedupStore } from './none.ts';
import { createDedupStore, DEDUP_KINDS, parseDedupSpec } from './registry.ts';
import { SqliteDedupStore } from './sqlite.ts';

describe('parseDedupSpec', () => {
  it('parses every kind, and a path for sqlite', () => {
    expect(parseDedupSpec('memory')).toEqual({ kind: 'memory' });
    expect(parseDedupSpec('none')).toEqual({ kind: 'none' });
    expect(parseDedupSpec('sqlite')).toEqual({ kind: 'sqlite' });
    expect(parseDedupSpec('sqlite:./data/dedup.db')).toEqual({ kind: 'sqlite', path: './data/dedup.db' });
    expect(parseDedupSpec('sqlite:C:\\data\\dedup.db')).toEqual({ kind: 'sqlite', path: 'C:\\data\\dedup.db' });
  });

  it('names every valid kind when the kind is unknown', () => {
    expect(DEDUP_KINDS.sort()).toEqual(['memory', 'none', 'sqlite']);
    for (const bad of ['redis', 'Memory', '', 'redis:localhost']) {
      expect(() => parseDedupSpec(bad), bad).toThrow(/valid kinds are memory, none, sqlite, sqlite:<path>/);
    }
  });

  it('rejects a path on a kind that takes none, and an empty path', () => {
    expect(() => parseDedupSpec('memory:./x.db')).toThrow(/takes no path/);
    expect(() => parseDedupSpec('sqlite:')).toThrow(/empty path/);
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

  it("shares the sink's database for 'sqlite' without a path, and needs a sink for it", async () => {
    expect(() => createDedupStore('sqlite')).toThrow(/no SQLite sink was given/);
    const sink = new SqliteSink({ path: ':memory:', mode: 'idempotent' });
    let nowMs = 0;
    const store = createDedupStore('sqlite', { sink, now: () => nowMs });
    expect(store).toBeInstanceOf(SqliteDedupStore);
    expect((store as SqliteDedupStore).db).toBe(sink.db);
    expect(store.claimerFor?.(sink)).toBeTypeOf('function');
    // The injected clock reaches the store.
    await store.claim('a', 10);
    nowMs = 10;
    expect(await store.claim('a', 10)).toBe('new');
    await store.close();
    await sink.close();
  });
});
