// The DedupStore contract, once, for every implementation (STYLE.md point 8). A store is done when
// this suite passes for it. Each case declares its capabilities: `dedups` (false only for 'none',
// which must answer 'new' where the others answer 'duplicate') and `openPeer` (a second, independent
// connection to the same claims, standing in for another process).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sleep } from '../clock.ts';
import { TransientError } from '../sink/index.ts';
import { SqliteSink } from '../sink/sqlite.ts';
import type { ClaimResult, DedupKind, DedupStore } from './index.ts';
import { MemoryDedupStore } from './memory.ts';
import { NoDedupStore } from './none.ts';
import { SqliteDedupStore } from './sqlite.ts';

interface FakeClock {
  now: () => number;
  advance(ms: number): void;
}

function fakeClock(startMs = 1_767_225_600_000): FakeClock {
  let nowMs = startMs;
  return {
    now: () => nowMs,
    advance: (ms) => {
      nowMs += ms;
    },
  };
}

interface OpenedStore {
  store: DedupStore;
  /** Another connection to the same claims (sqlite only). */
  openPeer?: (options?: { busyTimeoutMs?: number }) => SqliteDedupStore;
  cleanup(): Promise<void>;
}

interface StoreCase {
  name: string;
  kind: DedupKind;
  durable: boolean;
  /** Reports 'duplicate' for a live claim; 'none' never does. */
  dedups: boolean;
  /** open() provides openPeer: a second connection to the same claims. */
  peer: boolean;
  /** `now` undefined = the store's default clock. */
  open(now: (() => number) | undefined): OpenedStore;
}

function tempDir(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'chaosbench-dedup-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Peers opened during a test, closed by its cleanup. */
function peerOpener(path: string, now: (() => number) | undefined, peers: SqliteDedupStore[]) {
  return (options: { busyTimeoutMs?: number } = {}) => {
    const peer = new SqliteDedupStore({ path, now, busyTimeoutMs: options.busyTimeoutMs });
    peers.push(peer);
    return peer;
  };
}

const cases: StoreCase[] = [
  {
    name: 'memory',
    kind: 'memory',
    durable: false,
    dedups: true,
    peer: false,
    open: (now) => {
      const store = new MemoryDedupStore({ now });
      return { store, cleanup: () => store.close() };
    },
  },
  {
    name: 'sqlite (own file)',
    kind: 'sqlite',
    durable: true,
    dedups: true,
    peer: true,
    open: (now) => {
      const temp = tempDir();
      const path = join(temp.dir, 'dedup.db');
      const peers: SqliteDedupStore[] = [];
      const store = new SqliteDedupStore({ path, now });
      return {
        store,
        openPeer: peerOpener(path, now, peers),
        cleanup: async () => {
          for (const peer of peers) await peer.close();
          await store.close();
          temp.remove();
        },
      };
    },
  },
  {
    name: "sqlite (sharing the sink's database)",
    kind: 'sqlite',
    durable: true,
    dedups: true,
    peer: true,
    open: (now) => {
      const temp = tempDir();
      const path = join(temp.dir, 'sink.db');
      const peers: SqliteDedupStore[] = [];
      const sink = new SqliteSink({ path, mode: 'idempotent' });
      const store = new SqliteDedupStore({ db: sink.db, now });
      return {
        store,
        openPeer: peerOpener(path, now, peers),
        cleanup: async () => {
          for (const peer of peers) await peer.close();
          await store.close();
          await sink.close();
          temp.remove();
        },
      };
    },
  },
  {
    name: 'none',
    kind: 'none',
    durable: false,
    dedups: false,
    peer: false,
    open: () => {
      const store = new NoDedupStore();
      return { store, cleanup: () => store.close() };
    },
  },
];

const TTL_MS = 1_000;

describe.each(cases)('DedupStore contract: $name', (storeCase) => {
  const { dedups } = storeCase;
  /** What a live claim answers: 'duplicate', or 'new' for a store that does not deduplicate. */
  const repeat: ClaimResult = dedups ? 'duplicate' : 'new';
  let clock: FakeClock;
  let opened: OpenedStore;
  let store: DedupStore;

  beforeEach(() => {
    clock = fakeClock();
    opened = storeCase.open(clock.now);
    store = opened.store;
  });

  afterEach(async () => {
    await opened.cleanup();
  });

  it('reports its kind and durability', () => {
    expect(store.kind).toBe(storeCase.kind);
    expect(store.durable).toBe(storeCase.durable);
  });

  it('answers new for a first claim and duplicate for the next one within the TTL', async () => {
    expect(await store.claim('01J0000000000000000000000A', TTL_MS)).toBe('new');
    expect(await store.claim('01J0000000000000000000000A', TTL_MS)).toBe(repeat);
    expect(await store.claim('01J0000000000000000000000B', TTL_MS)).toBe('new');
  });

  it('claimMany answers per id in order, a repeat inside one call being a duplicate', async () => {
    expect(await store.claimMany(['a', 'b', 'a', 'c', 'b', 'a'], TTL_MS)).toEqual([
      'new',
      'new',
      repeat,
      'new',
      repeat,
      repeat,
    ]);
    expect(await store.claimMany(['c', 'd'], TTL_MS)).toEqual([repeat, 'new']);
    expect(await store.claimMany([], TTL_MS)).toEqual([]);
  });

  it('forgets a claim once its TTL has passed (expiry at exactly claim time + TTL)', async () => {
    expect(await store.claim('a', TTL_MS)).toBe('new');
    clock.advance(TTL_MS - 1);
    expect(await store.claim('a', TTL_MS)).toBe(repeat);
    clock.advance(1);
    expect(await store.claim('a', TTL_MS)).toBe('new');
    // The renewed claim is live again for a full TTL.
    clock.advance(TTL_MS - 1);
    expect(await store.claimMany(['a'], TTL_MS)).toEqual([repeat]);
  });

  it('does not extend a claim when a duplicate arrives', async () => {
    await store.claim('a', TTL_MS);
    clock.advance(600);
    expect(await store.claim('a', TTL_MS)).toBe(repeat);
    clock.advance(400);
    expect(await store.claim('a', TTL_MS)).toBe('new');
  });

  it('expires each claim on its own TTL when TTLs differ', async () => {
    // The long claim comes first, so a store sweeping expired claims in insertion order meets it
    // before the short one: the short claim must still expire on time.
    await store.claim('long', 10 * TTL_MS);
    await store.claim('short', TTL_MS);
    clock.advance(TTL_MS);
    expect(await store.claimMany(['short', 'long'], TTL_MS)).toEqual(['new', repeat]);
  });

  it('expires claims on its default clock too', async () => {
    const realClock = storeCase.open(undefined);
    try {
      expect(await realClock.store.claim('a', 30)).toBe('new');
      expect(await realClock.store.claim('a', 30)).toBe(repeat);
      await sleep(60);
      expect(await realClock.store.claim('a', 30)).toBe('new');
    } finally {
      await realClock.cleanup();
    }
  });

  it('makes a released id new again and ignores ids it never claimed', async () => {
    await store.claimMany(['a', 'b'], TTL_MS);
    await store.release(['a', 'never-claimed']);
    expect(await store.claimMany(['a', 'b'], TTL_MS)).toEqual(['new', repeat]);
    await store.release([]);
  });

  it('gives exactly one new to 50 concurrent claims of one id', async () => {
    const results = await Promise.all(Array.from({ length: 50 }, () => store.claim('contended', TTL_MS)));
    expect(results.filter((result) => result === 'new')).toHaveLength(dedups ? 1 : 50);
  });

  it('gives exactly one new per id across concurrent overlapping claimMany calls', async () => {
    const ids = Array.from({ length: 20 }, (_, index) => `id-${index}`);
    // Ten callers, each starting at a different offset of the same ids.
    const calls = Array.from({ length: 10 }, (_, caller) =>
      store.claimMany([...ids.slice(caller * 2), ...ids.slice(0, caller * 2)], TTL_MS).then((results) =>
        results.map((result, index) => ({ id: ids[(index + caller * 2) % ids.length], result })),
      ),
    );
    const claims = (await Promise.all(calls)).flat();
    for (const id of ids) {
      const fresh = claims.filter((claim) => claim.id === id && claim.result === 'new');
      expect(fresh, id).toHaveLength(dedups ? 1 : 10);
    }
  });

  it('counts live claims only in size()', async () => {
    await store.claimMany(['a', 'b', 'c'], TTL_MS);
    expect(await store.size()).toBe(dedups ? 3 : 0);
    await store.release(['b']);
    expect(await store.size()).toBe(dedups ? 2 : 0);
    await store.claim('long', 10 * TTL_MS);
    clock.advance(TTL_MS);
    expect(await store.size()).toBe(dedups ? 1 : 0);
    clock.advance(9 * TTL_MS);
    expect(await store.size()).toBe(0);
  });

  it('rejects a TTL that is not a positive finite number', async () => {
    for (const ttl of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      await expect(store.claim('a', ttl), String(ttl)).rejects.toThrow(RangeError);
    }
    expect(await store.claim('a', TTL_MS)).toBe('new');
  });

  it('closes idempotently and refuses claims afterwards', async () => {
    await store.claim('a', TTL_MS);
    await store.close();
    await store.close();
    await expect(store.claim('b', TTL_MS)).rejects.toThrow(/closed/);
    await expect(store.claimMany(['b'], TTL_MS)).rejects.toThrow(/closed/);
  });

  // Only stores with a second connection get these cases (registered, not skipped: every test
  // that exists here runs).
  if (storeCase.peer) describe('with a second connection', () => {
    it('sees claims made on the other connection and its releases', async () => {
      const peer = opened.openPeer!();
      expect(await store.claim('a', TTL_MS)).toBe('new');
      expect(await peer.claim('a', TTL_MS)).toBe('duplicate');
      await peer.release(['a']);
      expect(await store.claim('a', TTL_MS)).toBe('new');
    });

    it('gives exactly one new per id when two connections claim the same ids in alternating transactions', async () => {
      const peer = opened.openPeer!();
      const ids = Array.from({ length: 200 }, (_, index) => `id-${index}`);
      const reversed = [...ids].reverse();
      const newCount = new Map<string, number>();
      const record = (batch: string[], results: ClaimResult[]) =>
        batch.forEach((id, index) => {
          if (results[index] === 'new') newCount.set(id, (newCount.get(id) ?? 0) + 1);
        });
      // One connection walks forwards, the other backwards, batches interleaved, meeting in the middle
      // and then overlapping entirely.
      for (let offset = 0; offset < ids.length; offset += 10) {
        const forward = ids.slice(offset, offset + 10);
        const backward = reversed.slice(offset, offset + 10);
        const [forwardResults, backwardResults] = await Promise.all([
          store.claimMany(forward, TTL_MS),
          peer.claimMany(backward, TTL_MS),
        ]);
        record(forward, forwardResults);
        record(backward, backwardResults);
      }
      expect([...newCount.keys()].sort()).toEqual([...ids].sort());
      expect([...newCount.values()].every((count) => count === 1)).toBe(true);
    });

    it('fails a claim blocked by the other connection\'s open write transaction with TransientError, claiming nothing', async () => {
      const holder = opened.openPeer!();
      const blocked = opened.openPeer!({ busyTimeoutMs: 0 });
      holder.db.exec('BEGIN IMMEDIATE');
      try {
        // Inside the open transaction: better-sqlite3 nests the claim as a savepoint.
        expect(holder.claimManySync(['a', 'b'], TTL_MS)).toEqual(['new', 'new']);
        await expect(blocked.claimMany(['a', 'c'], TTL_MS)).rejects.toBeInstanceOf(TransientError);
      } finally {
        holder.db.exec('COMMIT');
      }
      expect(await blocked.claimMany(['a', 'c'], TTL_MS)).toEqual(['duplicate', 'new']);
    });
  });
});
