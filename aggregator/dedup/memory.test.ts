// MemoryDedupStore beyond the shared contract: the maxEntries bound and its eviction count, and
// expiry bookkeeping when TTLs differ.

import { describe, expect, it } from 'vitest';
import { ESTIMATED_BYTES_PER_CLAIM, MemoryDedupStore } from './memory.ts';

function fakeClock() {
  let nowMs = 0;
  return { now: () => nowMs, advance: (ms: number) => (nowMs += ms) };
}

describe('MemoryDedupStore', () => {
  it('evicts the oldest live claim beyond maxEntries, counts it, and so lets its duplicate through', async () => {
    const clock = fakeClock();
    const store = new MemoryDedupStore({ now: clock.now, maxEntries: 3 });
    expect(await store.claimMany(['a', 'b', 'c', 'd'], 1_000)).toEqual(['new', 'new', 'new', 'new']);
    expect(store.evicted).toBe(1);
    expect(await store.size()).toBe(3);
    // 'a' was evicted early: its redelivery is (wrongly, but visibly) new again.
    expect(await store.claimMany(['a'], 1_000)).toEqual(['new']);
    expect(store.evicted).toBe(2);
    expect(await store.claimMany(['c', 'd', 'a'], 1_000)).toEqual(['duplicate', 'duplicate', 'duplicate']);
  });

  it('drops expired claims to make room without counting them as evictions', async () => {
    const clock = fakeClock();
    const store = new MemoryDedupStore({ now: clock.now, maxEntries: 2 });
    await store.claimMany(['a', 'b'], 1_000);
    clock.advance(1_000);
    await store.claimMany(['c', 'd'], 1_000);
    expect(store.evicted).toBe(0);
    expect(await store.size()).toBe(2);
  });

  it('with mixed TTLs, drops expired claims behind a long-lived one before evicting anything live', async () => {
    const clock = fakeClock();
    const store = new MemoryDedupStore({ now: clock.now, maxEntries: 3 });
    await store.claimMany(['long'], 100_000);
    await store.claimMany(['b', 'c'], 10);
    clock.advance(10);
    expect(await store.claimMany(['d', 'e'], 10)).toEqual(['new', 'new']);
    expect(store.evicted).toBe(0);
    expect(await store.claimMany(['long', 'd', 'e', 'b'], 10)).toEqual(['duplicate', 'duplicate', 'duplicate', 'new']);
  });

  it('reclaims expired claims behind a long-lived one instead of evicting live ones when full', async () => {
    const clock = fakeClock();
    const store = new MemoryDedupStore({ now: clock.now, maxEntries: 500 });
    await store.claimMany(['long'], 1_000_000);
    for (let round = 0; round < 50; round += 1) {
      await store.claimMany(Array.from({ length: 100 }, (_, index) => `r${round}-${index}`), 5);
      clock.advance(10);
    }
    expect(store.evicted).toBe(0);
    expect(await store.size()).toBe(1);
    expect(await store.claimMany(['long'], 5)).toEqual(['duplicate']);
  });

  it('footprint: expiry frees the entries it counts, and the bytes estimate follows entries and id length', async () => {
    const clock = fakeClock();
    const store = new MemoryDedupStore({ now: clock.now });
    const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, index) => `${prefix}${String(index).padStart(25, '0')}`);
    await store.claimMany(ids('a', 100), 1_000);
    clock.advance(500);
    await store.claimMany(ids('b', 50), 1_000);
    const both = store.footprint();
    expect(both.entries).toBe(150);
    expect(both.bytes_estimate).toBe(150 * (ESTIMATED_BYTES_PER_CLAIM + 26));
    // The first 100 expire; the footprint drops them without a claim in between.
    clock.advance(500);
    expect(store.footprint()).toEqual({ entries: 50, bytes_estimate: 50 * (ESTIMATED_BYTES_PER_CLAIM + 26) });
    clock.advance(500);
    expect(store.footprint().entries).toBe(0);
    expect(new MemoryDedupStore().footprint()).toEqual({ entries: 0, bytes_estimate: 0 });
  });

  it('rejects a maxEntries that is not a positive integer', () => {
    expect(() => new MemoryDedupStore({ maxEntries: 0 })).toThrow(RangeError);
    expect(() => new MemoryDedupStore({ maxEntries: 1.5 })).toThrow(RangeError);
  });
});
