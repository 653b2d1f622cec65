// The DedupStore contract, once, for every implementation (docs/testing.md). A store is done when
// this suite passes for it. Each case declares its capabilities: `dedups` (false only for 'none',
// which must answer 'new' where the others answer 'duplicate'), `peer` (a second, independent
// connection to the same claims, standing in for another process), `sqliteLocking` (SQLite's busy
// lock between connections), `realClockTtl` (TTLs follow the server's clock, so the TTL cases wait
// in real time with a short TTL and a margin instead of moving a fake clock) and `server` (a store on
// a network server: its connections can be dropped under it, and an unreachable server is a
// TransientError).
//
// The Redis and PostgreSQL cases run against the real servers (REDIS_URL, DATABASE_URL, or the local
// defaults); when one is unreachable its cases fail, they are never skipped. Each store gets a key
// prefix or schema of its own, removed by the test's cleanup.

import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sleep } from '../clock.ts';
import { TransientError } from '../sink/index.ts';
import { SqliteSink } from '../sink/sqlite.ts';
import type { ClaimResult, DedupKind, DedupStore } from './index.ts';
import { MemoryDedupStore } from './memory.ts';
import { NoDedupStore } from './none.ts';
import { DEFAULT_DATABASE_URL } from '../postgres.ts';
import { PostgresDedupStore } from './postgres.ts';
import { DEFAULT_REDIS_URL, RedisDedupStore } from './redis.ts';
import { SqliteDedupStore } from './sqlite.ts';
import { withPostgresClient } from '../sink/test-postgres.ts';
import { tempDirs } from '../../test-support/temp-dirs.ts';

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
  /** Another connection to the same claims (cases with `peer`). */
  openPeer?: () => DedupStore;
  /** sqlite only: a peer with its own busy timeout, whose database handle the test drives directly. */
  openSqlitePeer?: (options?: { busyTimeoutMs?: number }) => SqliteDedupStore;
  /** Drops the store's server connections from the server side (cases with `server`). */
  dropConnections?: () => Promise<void>;
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
  /** open() provides openSqlitePeer: SQLite connections that lock each other out. */
  sqliteLocking: boolean;
  /** TTLs follow a real clock (the server's): open() ignores `now`, TTL cases wait for real. */
  realClockTtl: boolean;
  /** A store on a network server: open() provides dropConnections, and openUnreachable exists. */
  server: boolean;
  /** `now` undefined = the store's default clock. */
  open(now: (() => number) | undefined): OpenedStore;
  /** The same store pointed at a server that is not there (cases with `server`). */
  openUnreachable?: () => DedupStore;
}

const tempDir = tempDirs('dedup');

/** Peers opened during a test, closed by its cleanup. */
function peerOpener(path: string, now: (() => number) | undefined, peers: SqliteDedupStore[]) {
  return (options: { busyTimeoutMs?: number } = {}) => {
    const peer = new SqliteDedupStore({ path, now, busyTimeoutMs: options.busyTimeoutMs });
    peers.push(peer);
    return peer;
  };
}

function uniqueSuffix(): string {
  return randomBytes(6).toString('hex');
}

const redisUrl = process.env.REDIS_URL ?? DEFAULT_REDIS_URL;
const databaseUrl = process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
/** A port nothing listens on (1 is reserved and closed on any sane test machine). */
const UNREACHABLE_PORT = 1;

/** A Redis store under a key prefix of its own; cleanup deletes every key under that prefix. */
function openRedis(): OpenedStore {
  const keyPrefix = `chaosbench:test:dedup:${uniqueSuffix()}:`;
  const peers: RedisDedupStore[] = [];
  const store = new RedisDedupStore({ url: redisUrl, keyPrefix, connectionName: 'chaosbench-dedup-test' });
  // The test's own connection, for what a store does not do (CLIENT KILL, cleanup).
  let admin: Redis | undefined;
  const adminConnection = () => (admin ??= new Redis(redisUrl, { maxRetriesPerRequest: 2 }));
  return {
    store,
    openPeer: () => {
      const peer = new RedisDedupStore({ url: redisUrl, keyPrefix, connectionName: 'chaosbench-dedup-test-peer' });
      peers.push(peer);
      return peer;
    },
    dropConnections: async () => {
      // CLIENT ID runs on the store's own connection, so it names exactly that one.
      const id = await store.clientId();
      expect(await adminConnection().client('KILL', 'ID', String(id))).toBe(1);
    },
    cleanup: async () => {
      try {
        for (const peer of peers) await peer.close();
        await store.close();
        const redis = adminConnection();
        let cursor = '0';
        do {
          const [next, keys] = await redis.scan(cursor, 'MATCH', `${keyPrefix}*`, 'COUNT', 1_000);
          if (keys.length > 0) await redis.del(...keys);
          cursor = next;
        } while (cursor !== '0');
      } finally {
        admin?.disconnect();
      }
    },
  };
}

/** A PostgreSQL store in a schema of its own; cleanup drops the schema. */
function openPostgres(): OpenedStore {
  const schema = `chaosbench_test_${uniqueSuffix()}`;
  const peers: PostgresDedupStore[] = [];
  // The schema name doubles as application_name, so that dropConnections finds exactly these connections.
  const store = new PostgresDedupStore({ url: databaseUrl, schema, applicationName: schema });
  const admin = <T>(work: (client: pg.Client) => Promise<T>): Promise<T> => withPostgresClient(databaseUrl, work);
  return {
    store,
    openPeer: () => {
      const peer = new PostgresDedupStore({ url: databaseUrl, schema, applicationName: `${schema}_peer` });
      peers.push(peer);
      return peer;
    },
    dropConnections: async () => {
      // The two-argument form waits (up to 5 s) until each backend has exited.
      const { rows } = await admin((client) =>
        client.query<{ terminated: boolean }>(
          'SELECT pg_terminate_backend(pid, 5000) AS terminated FROM pg_stat_activity WHERE application_name = $1',
          [schema],
        ),
      );
      expect(rows.length).toBeGreaterThan(0);
      expect(rows.every((row) => row.terminated)).toBe(true);
    },
    cleanup: async () => {
      for (const peer of peers) await peer.close();
      await store.close();
      await admin((client) => client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));
    },
  };
}

const cases: StoreCase[] = [
  {
    name: 'memory',
    kind: 'memory',
    durable: false,
    dedups: true,
    peer: false,
    sqliteLocking: false,
    realClockTtl: false,
    server: false,
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
    sqliteLocking: true,
    realClockTtl: false,
    server: false,
    open: (now) => {
      const path = join(tempDir(), 'dedup.db');
      const peers: SqliteDedupStore[] = [];
      const store = new SqliteDedupStore({ path, now });
      const openSqlitePeer = peerOpener(path, now, peers);
      return {
        store,
        openPeer: () => openSqlitePeer(),
        openSqlitePeer,
        cleanup: async () => {
          for (const peer of peers) await peer.close();
          await store.close();
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
    sqliteLocking: true,
    realClockTtl: false,
    server: false,
    open: (now) => {
      const path = join(tempDir(), 'sink.db');
      const peers: SqliteDedupStore[] = [];
      const sink = new SqliteSink({ path, mode: 'idempotent' });
      const store = new SqliteDedupStore({ db: sink.db, now });
      const openSqlitePeer = peerOpener(path, now, peers);
      return {
        store,
        openPeer: () => openSqlitePeer(),
        openSqlitePeer,
        cleanup: async () => {
          for (const peer of peers) await peer.close();
          await store.close();
          await sink.close();
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
    sqliteLocking: false,
    realClockTtl: false,
    server: false,
    open: () => {
      const store = new NoDedupStore();
      return { store, cleanup: () => store.close() };
    },
  },
  {
    name: 'redis',
    kind: 'redis',
    durable: true,
    dedups: true,
    peer: true,
    sqliteLocking: false,
    realClockTtl: true,
    server: true,
    open: () => openRedis(),
    openUnreachable: () => new RedisDedupStore({ url: `redis://127.0.0.1:${UNREACHABLE_PORT}`, keyPrefix: 'chaosbench:test:unreachable:' }),
  },
  {
    name: 'postgres',
    kind: 'postgres',
    durable: true,
    dedups: true,
    peer: true,
    sqliteLocking: false,
    realClockTtl: true,
    server: true,
    open: () => openPostgres(),
    openUnreachable: () =>
      new PostgresDedupStore({ url: `postgres://postgres@127.0.0.1:${UNREACHABLE_PORT}/test`, schema: 'chaosbench_test_unreachable' }),
  },
];

/** TTL of every case that does not let time pass; on a fake clock also that of the TTL cases. */
const TTL_MS = 1_000;
/**
 * Real-clock stores: TTL of the TTL cases, and the margin kept around each expiry instant. The margin
 * must cover one round trip plus scheduling delays on a loaded machine; the TTL must exceed twice the
 * margin so that "still live" and "expired" can both be observed.
 */
const REAL_CLOCK_TTL_MS = 400;
const REAL_CLOCK_SLACK_MS = 100;
/** Real-clock stores: TTL of the cases that must not see a claim expire however slowly they run. */
const REAL_CLOCK_LIVE_TTL_MS = 60_000;

/** How time passes in the TTL cases. */
interface TimeControl {
  /** TTL the TTL cases claim with. */
  ttl: number;
  /** Margin around an expiry instant: 0 on a fake clock (expiry checked to the millisecond). */
  slack: number;
  /** Let `ms` pass on the store's clock. */
  advance(ms: number): Promise<void>;
}

describe.each(cases)('DedupStore contract: $name', (storeCase) => {
  const { dedups } = storeCase;
  /** What a live claim answers: 'duplicate', or 'new' for a store that does not deduplicate. */
  const repeat: ClaimResult = dedups ? 'duplicate' : 'new';
  /** TTL of the cases in which no claim may expire. */
  const liveTtl = storeCase.realClockTtl ? REAL_CLOCK_LIVE_TTL_MS : TTL_MS;
  let clock: FakeClock;
  let time: TimeControl;
  let opened: OpenedStore;
  let store: DedupStore;

  beforeEach(() => {
    clock = fakeClock();
    time = storeCase.realClockTtl
      ? { ttl: REAL_CLOCK_TTL_MS, slack: REAL_CLOCK_SLACK_MS, advance: (ms) => sleep(ms) }
      : { ttl: TTL_MS, slack: 0, advance: async (ms) => clock.advance(ms) };
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
    expect(await store.claimMany(['01J0000000000000000000000A'], liveTtl)).toEqual(['new']);
    expect(await store.claimMany(['01J0000000000000000000000A'], liveTtl)).toEqual([repeat]);
    expect(await store.claimMany(['01J0000000000000000000000B'], liveTtl)).toEqual(['new']);
  });

  it('claimMany answers per id in order, a repeat inside one call being a duplicate', async () => {
    expect(await store.claimMany(['a', 'b', 'a', 'c', 'b', 'a'], liveTtl)).toEqual([
      'new',
      'new',
      repeat,
      'new',
      repeat,
      repeat,
    ]);
    expect(await store.claimMany(['c', 'd'], liveTtl)).toEqual([repeat, 'new']);
    expect(await store.claimMany([], liveTtl)).toEqual([]);
  });

  it('keeps ids apart whatever characters they hold (separators, digits, non-ASCII, empty)', async () => {
    // Redis receives a batch's ids packed into one argument as `<byte length>:<id>`: ids that look
    // like that format, or whose byte length differs from their length, must not run together.
    const ids = ['3:abc', 'abc', '1:x\n2:yz', 'x', 'é', 'e\u0301', '日本', '', ':', '10:', '😀'];
    expect(await store.claimMany(ids, liveTtl)).toEqual(ids.map(() => 'new'));
    expect(await store.claimMany([...ids].reverse(), liveTtl)).toEqual(ids.map(() => repeat));
    expect(await store.claimMany(['yz', '2:yz', 'abc3:'], liveTtl)).toEqual(['new', 'new', 'new']);
  });

  // On a fake clock the TTL cases check expiry to the millisecond (slack 0); on a real clock each
  // check stays `slack` away from the expiry instant.
  it('forgets a claim once its TTL has passed (on a fake clock: at exactly claim time + TTL)', async () => {
    const { ttl, slack } = time;
    expect(await store.claimMany(['a'], ttl)).toEqual(['new']);
    await time.advance(ttl - 1 - slack);
    expect(await store.claimMany(['a'], ttl)).toEqual([repeat]);
    await time.advance(1 + 2 * slack);
    expect(await store.claimMany(['a'], ttl)).toEqual(['new']);
    // The renewed claim is live again for a full TTL.
    await time.advance(ttl - 1 - slack);
    expect(await store.claimMany(['a'], ttl)).toEqual([repeat]);
  });

  it('does not extend a claim when a duplicate arrives', async () => {
    const { ttl, slack } = time;
    await store.claimMany(['a'], ttl);
    await time.advance(0.6 * ttl);
    expect(await store.claimMany(['a'], ttl)).toEqual([repeat]);
    // Extended, the claim would live until 1.6 × TTL.
    await time.advance(0.4 * ttl + slack);
    expect(await store.claimMany(['a'], ttl)).toEqual(['new']);
  });

  it('expires each claim on its own TTL when TTLs differ', async () => {
    const { ttl, slack } = time;
    // The long claim comes first, so a store sweeping expired claims in insertion order meets it
    // before the short one: the short claim must still expire on time.
    await store.claimMany(['long'], 10 * ttl);
    await store.claimMany(['short'], ttl);
    await time.advance(ttl + slack);
    expect(await store.claimMany(['short', 'long'], ttl)).toEqual(['new', repeat]);
  });

  it('expires claims on its default clock too', async () => {
    const realClock = storeCase.open(undefined);
    try {
      expect(await realClock.store.claimMany(['a'], 30)).toEqual(['new']);
      expect(await realClock.store.claimMany(['a'], 30)).toEqual([repeat]);
      await sleep(60);
      expect(await realClock.store.claimMany(['a'], 30)).toEqual(['new']);
    } finally {
      await realClock.cleanup();
    }
  });

  it('makes a released id new again and ignores ids it never claimed', async () => {
    await store.claimMany(['a', 'b'], liveTtl);
    await store.release(['a', 'never-claimed']);
    expect(await store.claimMany(['a', 'b'], liveTtl)).toEqual(['new', repeat]);
    await store.release([]);
  });

  it('gives exactly one new to 50 concurrent claims of one id', async () => {
    const results = (await Promise.all(Array.from({ length: 50 }, () => store.claimMany(['contended'], liveTtl)))).flat();
    expect(results.filter((result) => result === 'new')).toHaveLength(dedups ? 1 : 50);
  });

  it('gives exactly one new per id across concurrent overlapping claimMany calls', async () => {
    const ids = Array.from({ length: 20 }, (_, index) => `id-${index}`);
    // Ten callers, each starting at a different offset of the same ids.
    const calls = Array.from({ length: 10 }, (_, caller) =>
      store.claimMany([...ids.slice(caller * 2), ...ids.slice(0, caller * 2)], liveTtl).then((results) =>
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
    const { ttl, slack } = time;
    await store.claimMany(['a', 'b', 'c'], ttl);
    expect(await store.size()).toBe(dedups ? 3 : 0);
    await store.release(['b']);
    expect(await store.size()).toBe(dedups ? 2 : 0);
    await store.claimMany(['long'], 3 * ttl);
    await time.advance(ttl + slack);
    expect(await store.size()).toBe(dedups ? 1 : 0);
    await time.advance(2 * ttl);
    expect(await store.size()).toBe(0);
  });

  it('rejects a TTL that is not a positive finite number', async () => {
    for (const ttl of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      await expect(store.claimMany(['a'], ttl), String(ttl)).rejects.toThrow(RangeError);
    }
    expect(await store.claimMany(['a'], liveTtl)).toEqual(['new']);
  });

  it('closes idempotently and refuses claims afterwards', async () => {
    await store.claimMany(['a'], liveTtl);
    await store.close();
    await store.close();
    await expect(store.claimMany(['b'], liveTtl)).rejects.toThrow(/closed/);
    await expect(store.claimMany(['b'], liveTtl)).rejects.toThrow(/closed/);
  });

  // Only stores with a second connection get these cases (registered, not skipped: every test
  // that exists here runs).
  if (storeCase.peer) describe('with a second connection', () => {
    it('sees claims made on the other connection and its releases', async () => {
      const peer = opened.openPeer!();
      expect(await store.claimMany(['a'], liveTtl)).toEqual(['new']);
      expect(await peer.claimMany(['a'], liveTtl)).toEqual(['duplicate']);
      await peer.release(['a']);
      expect(await store.claimMany(['a'], liveTtl)).toEqual(['new']);
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
          store.claimMany(forward, liveTtl),
          peer.claimMany(backward, liveTtl),
        ]);
        record(forward, forwardResults);
        record(backward, backwardResults);
      }
      expect([...newCount.keys()].sort()).toEqual([...ids].sort());
      expect([...newCount.values()].every((count) => count === 1)).toBe(true);
    });

    if (storeCase.sqliteLocking) {
      it("fails a claim blocked by the other connection's open write transaction with TransientError, claiming nothing", async () => {
        const holder = opened.openSqlitePeer!();
        const blocked = opened.openSqlitePeer!({ busyTimeoutMs: 0 });
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
    }
  });

  // Stores on a network server (registered only for those, not skipped).
  if (storeCase.server) describe('on a server', () => {
    it('keeps its claims and answers again after the server drops its connections', async () => {
      // Several connections in use first (where the store pools them), so more than one dies at once.
      await Promise.all(Array.from({ length: 5 }, (_, index) => store.claimMany([`warm-${index}`], liveTtl)));
      expect(await store.claimMany(['a'], liveTtl)).toEqual(['new']);
      await opened.dropConnections!();
      expect(await store.claimMany(['a'], liveTtl)).toEqual(['duplicate']);
      expect(await store.claimMany(['b', 'a', 'b'], liveTtl)).toEqual(['new', 'duplicate', 'duplicate']);
      await opened.dropConnections!();
      await store.release(['a']);
      expect(await store.claimMany(['a'], liveTtl)).toEqual(['new']);
      await opened.dropConnections!();
      expect(await store.size()).toBe(7);
    });

    it('fails with TransientError (which the pipeline retries) when its server cannot be reached', async () => {
      const unreachable = storeCase.openUnreachable!();
      try {
        await expect(unreachable.open!()).rejects.toBeInstanceOf(TransientError);
        await expect(unreachable.claimMany(['a'], liveTtl)).rejects.toBeInstanceOf(TransientError);
      } finally {
        await unreachable.close();
      }
    });
  });
});
