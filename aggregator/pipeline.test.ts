import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { ulid } from 'ulid';
import { combineCounters, emptyCounters, Pipeline, type PipelineMessage, type PipelineOptions } from './pipeline.ts';
import { SqliteSink } from './sink/sqlite.ts';
import { SqliteDedupStore } from './dedup/sqlite.ts';
import { MemoryDedupStore } from './dedup/memory.ts';
import { NoDedupStore } from './dedup/none.ts';
import { DEFAULT_DATABASE_URL } from './postgres.ts';
import { PostgresDedupStore } from './dedup/postgres.ts';
import { withLimitedRole, withPostgresClient } from './sink/test-postgres.ts';
import type { DedupStore } from './dedup/index.ts';
import { TransientError, type Sink } from './sink/index.ts';
import { serializeEvent } from './event/parse.ts';
import { seededRandom } from './random.ts';
import { DEFAULT_MAX_PAYLOAD_BYTES, type Event } from './event/types.ts';
import { tempDirs } from '../test-support/temp-dirs.ts';

const options: PipelineOptions = {
  batch_size: 50,
  batch_wait_ms: 1,
  dedup_ttl_ms: 60_000,
  retry: { base_ms: 1, cap_ms: 5, max_attempts: 4 },
  parse: { maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES },
  random: seededRandom(7),
};

let dir: string;
const closers: (() => Promise<void>)[] = [];
const newDir = tempDirs('pipeline');
beforeEach(() => {
  dir = newDir();
});
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

function sinkAt(name = 'sink.db', mode: 'idempotent' | 'append' = 'idempotent', delayMs = 0): SqliteSink {
  const sink = new SqliteSink({ path: join(dir, name), mode, delayMs });
  closers.push(() => sink.close());
  return sink;
}

function event(seq: number, source = 'pub-0'): Event {
  return {
    v: 1,
    event_id: ulid(),
    source,
    seq,
    topic: `events/test/${source}`,
    ts: '2026-11-25T06:25:00.123456Z',
    payload: { n: seq },
    bench: { intended_us: 1_764_051_900_000_000 + seq },
  };
}

interface Delivery extends PipelineMessage {
  acked: boolean;
}

function delivery(payload: string | Event, topic = 'events/test/pub-0'): Delivery {
  const message: Delivery = {
    topic,
    payload: Buffer.from(typeof payload === 'string' ? payload : serializeEvent(payload)),
    dup: false,
    acked: false,
    ack: () => {
      message.acked = true;
    },
  };
  return message;
}

/** A sink whose commit fails in a scripted way before delegating to the real one. */
function failingSink(inner: Sink, failure: (events: readonly Event[], call: number) => Error | undefined): Sink & { calls: number } {
  const wrapper = {
    kind: inner.kind,
    mode: inner.mode,
    calls: 0,
    async commit(events: readonly Event[], claim?: Parameters<Sink['commit']>[1]) {
      const error = failure(events, wrapper.calls++);
      if (error) throw error;
      return inner.commit(events, claim);
    },
    deadLetter: inner.deadLetter.bind(inner),
    close: inner.close.bind(inner),
  };
  return wrapper;
}

/** The error a real SQLite CHECK constraint throws: a fault of the event itself. */
function realCheckViolation(): Error {
  const db = new Database(':memory:');
  db.exec("CREATE TABLE t (v TEXT CHECK (v <> 'poison'))");
  try {
    db.prepare("INSERT INTO t VALUES ('poison')").run();
  } catch (error) {
    return error as Error;
  } finally {
    db.close();
  }
  throw new Error('the CHECK constraint did not fire');
}

/** The error a real SQLite database throws when it is full (max_page_count reached). */
function realDiskFull(): Error {
  const db = new Database(':memory:');
  db.exec('CREATE TABLE t (b BLOB)');
  db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`);
  try {
    db.prepare('INSERT INTO t VALUES (?)').run(Buffer.alloc(64 * 1024));
  } catch (error) {
    return error as Error;
  } finally {
    db.close();
  }
  throw new Error('the database did not fill');
}

async function until(condition: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  expect(condition()).toBe(true);
}

async function run(pipeline: Pipeline, deliveries: Delivery[]): Promise<void> {
  for (const d of deliveries) pipeline.push(d);
  await pipeline.drain();
}

describe('claim and commit ordering: a failure between the two steps never loses the event', () => {
  it('transactional (sqlite dedup in the sink database): a crash after the claim rolls the claim back', async () => {
    const sink = sinkAt();
    const store = new SqliteDedupStore({ db: sink.db });
    let failNext = true;
    // The store's own claimer, made to blow up *after* it has claimed, inside the transaction.
    const enlisted: DedupStore = Object.assign(Object.create(store) as SqliteDedupStore, {
      claimerFor: (s: Sink) => {
        const run = store.claimerFor(s)!;
        return (ids: readonly string[], ttl: number) => {
          const claims = run(ids, ttl);
          if (failNext) {
            failNext = false;
            throw new TransientError('injected: process dies between claim and commit');
          }
          return claims;
        };
      },
    });
    const pipeline = new Pipeline(enlisted, sink, options);
    expect(pipeline.order).toBe('transactional');
    const e = event(0);
    const first = delivery(e);
    await run(pipeline, [first]);
    expect(first.acked).toBe(true);
    expect(pipeline.counters.retries).toBe(1);
    // Redelivery after the (simulated) crash: still exactly one row.
    await run(pipeline, [delivery(e)]);
    const rows = sink.readRows();
    expect(rows.map((r) => r.event_id)).toEqual([e.event_id]);
    expect(pipeline.counters.committed).toBe(1);
    expect(pipeline.counters.duplicates_absorbed).toBe(1);
  });

  it('claim-first (memory dedup): a failed commit releases its claims, so the retry commits', async () => {
    const sink = sinkAt();
    const store = new MemoryDedupStore();
    const flaky = failingSink(sink, (_, call) => (call === 0 ? new TransientError('injected: sink busy') : undefined));
    const pipeline = new Pipeline(store, flaky, options);
    expect(pipeline.order).toBe('claim-first');
    const e = event(0);
    await run(pipeline, [delivery(e)]);
    expect(sink.readRows().map((r) => r.event_id)).toEqual([e.event_id]);
    expect(pipeline.counters.committed).toBe(1);
    expect(pipeline.counters.duplicates_absorbed).toBe(0);
  });

  it('commit-first (sqlite dedup in its own file): a failure after the commit and before the claim still commits once', async () => {
    const sink = sinkAt();
    const store = new SqliteDedupStore({ path: join(dir, 'dedup.db') });
    closers.push(() => store.close());
    let failNext = true;
    const flakyStore: DedupStore = Object.assign(Object.create(store) as SqliteDedupStore, {
      claimerFor: () => undefined,
      claimMany: async (ids: readonly string[], ttl: number) => {
        if (failNext) {
          failNext = false;
          throw new TransientError('injected: dedup store unreachable after the commit');
        }
        return store.claimMany(ids, ttl);
      },
    });
    const pipeline = new Pipeline(flakyStore, sink, options);
    expect(pipeline.order).toBe('commit-first');
    const e = event(0);
    await run(pipeline, [delivery(e)]);
    const rows = sink.readRows();
    expect(rows).toHaveLength(1);
    // Only the claim is retried: the write was durable and is not repeated.
    expect(rows[0]!.deliveries).toBe(1);
    expect(pipeline.counters.committed).toBe(1);
    expect(pipeline.counters.retries).toBe(1);
    expect(await store.claimMany([e.event_id], 60_000)).toEqual(['duplicate']);
  });

  it('refuses a durable external store with an append sink (it could not stop duplicates safely)', () => {
    const sink = sinkAt('append.db', 'append');
    const store = new SqliteDedupStore({ path: join(dir, 'dedup.db') });
    closers.push(() => store.close());
    expect(() => new Pipeline(store, sink, options)).toThrow(/must be idempotent/);
  });
});

describe('overlapping batches', () => {
  /** A durable store outside the sink whose claims wait until the test lets each one answer. */
  function heldStore(): { store: DedupStore; claims: { ids: readonly string[]; answer: () => void }[] } {
    const inner = new MemoryDedupStore();
    const claims: { ids: readonly string[]; answer: () => void }[] = [];
    const store: DedupStore = Object.assign(Object.create(inner) as MemoryDedupStore, {
      durable: true,
      claimMany: (ids: readonly string[], ttl: number) =>
        new Promise((resolve) => claims.push({ ids, answer: () => resolve(inner.claimMany(ids, ttl)) })),
    });
    return { store, claims };
  }

  async function until(condition: () => boolean): Promise<void> {
    for (let i = 0; i < 500 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 2));
    expect(condition()).toBe(true);
  }

  it("commit-first: the next batch's sink write does not wait for this batch's claim, and acks keep the order of the batches", async () => {
    const sink = sinkAt();
    const writes: number[] = [];
    const counting = failingSink(sink, (events) => void writes.push(events.length));
    const { store, claims } = heldStore();
    const pipeline = new Pipeline(store, counting, { ...options, batch_size: 2 });
    expect(pipeline.order).toBe('commit-first');
    const acks: number[] = [];
    const deliveries = [0, 1, 2, 3].map((seq) => {
      const d = delivery(event(seq));
      d.ack = () => void acks.push(seq);
      return d;
    });
    for (const d of deliveries) pipeline.push(d);
    // Both batches are written while the first claim is still unanswered.
    await until(() => claims.length === 2);
    expect(writes).toEqual([2, 2]);
    expect(sink.readRows()).toHaveLength(4);
    expect(acks).toEqual([]);
    // The second batch's claim answers first: its acks still wait for the first batch's.
    claims[1]!.answer();
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(acks).toEqual([]);
    claims[0]!.answer();
    await pipeline.drain();
    expect(acks).toEqual([0, 1, 2, 3]);
    expect(pipeline.counters.committed).toBe(4);
  });

  it('claim-first: the next batch waits until this one is done (its claims decide what it writes)', async () => {
    const sink = sinkAt();
    const inner = new MemoryDedupStore();
    const claims: (() => void)[] = [];
    const store: DedupStore = Object.assign(Object.create(inner) as MemoryDedupStore, {
      claimMany: (ids: readonly string[], ttl: number) => new Promise((resolve) => claims.push(() => resolve(inner.claimMany(ids, ttl)))),
    });
    const pipeline = new Pipeline(store, sink, { ...options, batch_size: 2 });
    expect(pipeline.order).toBe('claim-first');
    for (const seq of [0, 1, 2, 3]) pipeline.push(delivery(event(seq)));
    await until(() => claims.length === 1);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(claims).toHaveLength(1);
    claims[0]!();
    await until(() => claims.length === 2);
    claims[1]!();
    await pipeline.drain();
    expect(sink.readRows()).toHaveLength(4);
  });
});

describe('batches, acks and the DLQ', () => {
  it('acks a message only after its batch is durably committed', async () => {
    const sink = sinkAt('slow.db', 'idempotent', 40);
    const pipeline = new Pipeline(new NoDedupStore(), sink, options);
    const deliveries = Array.from({ length: 10 }, (_, i) => delivery(event(i)));
    for (const d of deliveries) pipeline.push(d);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(deliveries.some((d) => d.acked)).toBe(false);
    expect(sink.readRows()).toHaveLength(0);
    await pipeline.drain();
    expect(deliveries.every((d) => d.acked)).toBe(true);
    expect(sink.readRows()).toHaveLength(10);
  });

  it('consumer lag is the age of the oldest un-acked message (0 when none), and every batch is timed once (the metrics, issue 20)', async () => {
    const sink = sinkAt('slow.db', 'idempotent', 200);
    const timed: number[] = [];
    const pipeline = new Pipeline(new NoDedupStore(), sink, { ...options, batch_size: 5, observeBatch: (seconds) => timed.push(seconds) });
    expect(pipeline.lagSeconds()).toBe(0);
    const deliveries = Array.from({ length: 12 }, (_, i) => delivery(event(i)));
    for (const d of deliveries) pipeline.push(d);
    await new Promise((resolve) => setTimeout(resolve, 100));
    // The first batch is held by the slow sink: its messages arrived at least 100 ms ago.
    expect(deliveries.some((d) => d.acked)).toBe(false);
    expect(pipeline.lagSeconds()).toBeGreaterThanOrEqual(0.09);
    expect(pipeline.backlog).toBe(12);
    await pipeline.drain();
    expect(pipeline.lagSeconds()).toBe(0);
    expect(pipeline.backlog).toBe(0);
    expect(timed).toHaveLength(pipeline.counters.batches);
    expect(timed.length).toBeGreaterThanOrEqual(3);
    // Each batch's time includes its sink commit (200 ms of delay).
    for (const seconds of timed) expect(seconds).toBeGreaterThanOrEqual(0.19);
  });

  it('batches messages: many messages, few commits', async () => {
    const sink = sinkAt();
    const pipeline = new Pipeline(new MemoryDedupStore(), sink, { ...options, batch_size: 100, batch_wait_ms: 50 });
    await run(pipeline, Array.from({ length: 300 }, (_, i) => delivery(event(i))));
    expect(pipeline.counters.batches).toBe(3);
    expect(sink.readRows()).toHaveLength(300);
  });

  it('dead-letters a malformed message with its reason, acks it, and keeps committing its batch-mates', async () => {
    const sink = sinkAt();
    const pipeline = new Pipeline(new MemoryDedupStore(), sink, options);
    const bad = delivery('{"v":1,"event_id":"not-a-ulid","source":"pub-0"');
    const wrongType = delivery(JSON.stringify({ ...event(1), seq: 'one' }));
    const good = delivery(event(2));
    await run(pipeline, [bad, wrongType, good]);
    expect([bad.acked, wrongType.acked, good.acked]).toEqual([true, true, true]);
    const letters = sink.readDeadLetters();
    expect(letters).toHaveLength(2);
    expect(letters[0]!.reason).toMatch(/invalid event/);
    expect(letters[0]!.raw).toBe('{"v":1,"event_id":"not-a-ulid","source":"pub-0"');
    expect(letters[1]!.reason).toMatch(/seq/);
    expect(sink.readRows()).toHaveLength(1);
    expect(pipeline.counters.dlq).toBe(2);
  });

  it("a fault of the event itself (a real CHECK violation) dead-letters only the event that causes it", async () => {
    const sink = sinkAt();
    const poison = event(1);
    const check = realCheckViolation();
    const rejecting = failingSink(sink, (events) => (events.some((e) => e.event_id === poison.event_id) ? check : undefined));
    const pipeline = new Pipeline(new MemoryDedupStore(), rejecting, options);
    await run(pipeline, [delivery(event(0)), delivery(poison), delivery(event(2))]);
    expect(sink.readRows()).toHaveLength(2);
    const letters = sink.readDeadLetters();
    expect(letters).toHaveLength(1);
    expect(letters[0]!.event_id).toBe(poison.event_id);
    expect(letters[0]!.reason).toMatch(/sink rejected event \(sqlite SQLITE_CONSTRAINT_CHECK\): CHECK constraint failed/);
  });

  it('keeps retrying a transient failure past max_attempts and never dead-letters a valid event', async () => {
    const sink = sinkAt();
    // Busy for 3 full rounds of max_attempts (as a database that is down for a while), then fine.
    const outage = 3 * options.retry.max_attempts;
    const busyForAWhile = failingSink(sink, (_events, call) => (call < outage ? new TransientError('database is locked') : undefined));
    const pipeline = new Pipeline(new MemoryDedupStore(), busyForAWhile, options);
    const d = delivery(event(0));
    await run(pipeline, [d]);
    expect(d.acked).toBe(true);
    expect(sink.readDeadLetters()).toHaveLength(0);
    expect(sink.readRows()).toHaveLength(1);
    expect(pipeline.counters.retries).toBe(outage);
    expect(pipeline.counters.dlq).toBe(0);
  });

  it('a transient failure still going on at shutdown leaves the messages un-acked (nack), not dead-lettered', async () => {
    const sink = sinkAt();
    const alwaysBusy = failingSink(sink, () => new TransientError('database is locked'));
    const pipeline = new Pipeline(new MemoryDedupStore(), alwaysBusy, options);
    let nacked: unknown;
    const d = { ...delivery(event(0)), nack: (error: unknown) => (nacked = error) };
    pipeline.push(d);
    setTimeout(() => pipeline.abandonRetries(), 50);
    await pipeline.drain();
    expect(d.acked).toBe(false);
    expect(String(nacked)).toMatch(/retries exhausted after 4 attempts: database is locked/);
    expect(sink.readDeadLetters()).toHaveLength(0);
    expect(sink.readRows()).toHaveLength(0);
    expect(alwaysBusy.calls).toBeGreaterThan(options.retry.max_attempts);
  });

  it('absorbs duplicates inside one batch and across batches', async () => {
    const sink = sinkAt();
    const pipeline = new Pipeline(new MemoryDedupStore(), sink, options);
    const e = event(0);
    await run(pipeline, [delivery(e), delivery(e), delivery(event(1))]);
    await run(pipeline, [delivery(e)]);
    expect(sink.readRows()).toHaveLength(2);
    expect(pipeline.counters.duplicates_absorbed).toBe(2);
    expect(pipeline.counters.redelivered).toBe(2);
  });

  it('without dedup an append sink receives every duplicate', async () => {
    const sink = sinkAt('append.db', 'append');
    const pipeline = new Pipeline(new NoDedupStore(), sink, options);
    const e = event(0);
    await run(pipeline, [delivery(e), delivery(e), delivery(e)]);
    expect(sink.readRows()).toHaveLength(3);
  });
});

describe('dedup store size in the counters', () => {
  it('reports the entries held and their peak; expired claims leave the figure, the peak stays', async () => {
    let nowMs = 0;
    const store = new MemoryDedupStore({ now: () => nowMs });
    const pipeline = new Pipeline(store, sinkAt(), { ...options, dedup_ttl_ms: 1_000 });
    await run(pipeline, Array.from({ length: 30 }, (_, i) => delivery(event(i))));
    expect(pipeline.counters.dedup_store).toMatchObject({ entries: 30, entries_peak: 30 });
    expect(pipeline.counters.dedup_store!.bytes_estimate).toBeGreaterThan(30 * 26);
    nowMs += 1_000;
    await run(pipeline, Array.from({ length: 5 }, (_, i) => delivery(event(100 + i))));
    expect(pipeline.counters.dedup_store).toMatchObject({ entries: 5, entries_peak: 30 });
    expect(pipeline.counters.dedup_store!.bytes_peak).toBeGreaterThan(pipeline.counters.dedup_store!.bytes_estimate!);
  });

  it('sqlite reports rows and no byte estimate; a store without a footprint reports nothing', async () => {
    const sink = sinkAt();
    const withRows = new Pipeline(new SqliteDedupStore({ db: sink.db }), sink, options);
    await run(withRows, [delivery(event(0)), delivery(event(1))]);
    expect(withRows.counters.dedup_store).toEqual({ entries: 2, entries_peak: 2, bytes_estimate: null, bytes_peak: null });
    // Like redis and postgres: no footprint.
    const blind: DedupStore = Object.assign(new NoDedupStore(), { footprint: undefined });
    const without = new Pipeline(blind, sinkAt('blind.db'), options);
    await run(without, [delivery(event(2))]);
    expect(without.counters.dedup_store).toBeUndefined();
  });

  it('combines incarnations: counts add up, the size is the last one, the peaks the highest', () => {
    const first = { ...emptyCounters(), committed: 10, dedup_store: { entries: 7, entries_peak: 9, bytes_estimate: 700, bytes_peak: 900 } };
    const second = { ...emptyCounters(), committed: 5, dedup_store: { entries: 3, entries_peak: 4, bytes_estimate: 300, bytes_peak: 400 } };
    expect(combineCounters([first, second])).toEqual({ ...emptyCounters(), committed: 15, dedup_store: { entries: 3, entries_peak: 9, bytes_estimate: 300, bytes_peak: 900 } });
    expect(combineCounters([{ ...emptyCounters(), acked: 2 }, { ...emptyCounters(), acked: 3 }])).toEqual({ ...emptyCounters(), acked: 5 });
  });
});

describe('a fault of the store is a stall, never a dead letter (issue 16)', () => {
  /** Pushes the deliveries, waits until the pipeline has retried a few times, and checks nothing was acked meanwhile. */
  async function stalled(pipeline: Pipeline, deliveries: Delivery[]): Promise<void> {
    for (const d of deliveries) pipeline.push(d);
    await until(() => pipeline.counters.retries >= 3 * options.retry.max_attempts);
    expect(deliveries.filter((d) => d.acked)).toHaveLength(0);
    expect(pipeline.counters.dlq).toBe(0);
  }

  it('a full sink (SQLITE_FULL: max_page_count) stalls without an ack and commits once space is back', async () => {
    const sink = sinkAt();
    const pages = sink.db.pragma('page_count', { simple: true }) as number;
    sink.db.pragma(`max_page_count = ${pages}`);
    const pipeline = new Pipeline(new MemoryDedupStore(), sink, options);
    const bulky = (seq: number) => ({ ...event(seq), payload: { filler: 'x'.repeat(8_000) } });
    const deliveries = [0, 1, 2].map((seq) => delivery(bulky(seq)));
    await stalled(pipeline, deliveries);
    expect(sink.readRows()).toHaveLength(0);
    sink.db.pragma('max_page_count = 1073741823');
    await pipeline.drain();
    expect(deliveries.every((d) => d.acked)).toBe(true);
    expect(sink.readRows().map((r) => r.deliveries)).toEqual([1, 1, 1]);
    expect(sink.readDeadLetters()).toHaveLength(0);
    expect(pipeline.counters.errors).toBeGreaterThanOrEqual(pipeline.counters.retries);
  });

  it('a read-only sink (SQLITE_READONLY: query_only) stalls without an ack and commits once writable', async () => {
    const sink = sinkAt();
    sink.db.pragma('query_only = ON');
    const pipeline = new Pipeline(new MemoryDedupStore(), sink, options);
    const deliveries = [delivery(event(0)), delivery(event(1))];
    await stalled(pipeline, deliveries);
    sink.db.pragma('query_only = OFF');
    await pipeline.drain();
    expect(deliveries.every((d) => d.acked)).toBe(true);
    expect(sink.readRows()).toHaveLength(2);
    expect(sink.readDeadLetters()).toHaveLength(0);
  });

  it('a store error that is not the event\'s (a plain Error, e.g. a permission the driver reports without a code) stalls too', async () => {
    const sink = sinkAt();
    let refusing = true;
    const denied = failingSink(sink, () => (refusing ? new Error('permission denied for table events') : undefined));
    const pipeline = new Pipeline(new MemoryDedupStore(), denied, options);
    const deliveries = [delivery(event(0)), delivery(event(1))];
    await stalled(pipeline, deliveries);
    refusing = false;
    await pipeline.drain();
    expect(deliveries.every((d) => d.acked)).toBe(true);
    expect(sink.readRows()).toHaveLength(2);
    expect(sink.readDeadLetters()).toHaveLength(0);
  });

  it('commit-first: a read-only dedup store (SQLITE_READONLY on the claim) stalls the ack; the events are written once, never dead-lettered', async () => {
    const sink = sinkAt();
    const store = new SqliteDedupStore({ path: join(dir, 'dedup.db') });
    closers.push(() => store.close());
    store.db.pragma('query_only = ON');
    const pipeline = new Pipeline(store, sink, options);
    expect(pipeline.order).toBe('commit-first');
    const deliveries = [delivery(event(0)), delivery(event(1))];
    await stalled(pipeline, deliveries);
    store.db.pragma('query_only = OFF');
    await pipeline.drain();
    expect(deliveries.every((d) => d.acked)).toBe(true);
    // Written by the batch's one write, not again by an isolation pass.
    expect(sink.readRows().map((r) => r.deliveries)).toEqual([1, 1]);
    expect(sink.readDeadLetters()).toHaveLength(0);
    expect(pipeline.counters.committed).toBe(2);
  });

  it('commit-first: a PostgreSQL claims table with INSERT revoked (42501) stalls the ack; once granted, the events are written once, never dead-lettered', async () => {
    const adminUrl = process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
    await withLimitedRole(adminUrl, async (url, role) => {
      const schema = `chaosbench_test_pipeline_${role.slice(-8)}`;
      const store = new PostgresDedupStore({ url, schema });
      closers.push(() => store.close());
      await store.open();
      await withPostgresClient(adminUrl, (client) => client.query(`REVOKE INSERT ON "${schema}".dedup FROM "${role}"`));
      const sink = sinkAt();
      const pipeline = new Pipeline(store, sink, options);
      expect(pipeline.order).toBe('commit-first');
      const deliveries = [delivery(event(0)), delivery(event(1))];
      await stalled(pipeline, deliveries);
      await withPostgresClient(adminUrl, (client) => client.query(`GRANT INSERT ON "${schema}".dedup TO "${role}"`));
      await pipeline.drain();
      expect(deliveries.every((d) => d.acked)).toBe(true);
      expect(sink.readRows().map((r) => r.deliveries)).toEqual([1, 1]);
      expect(sink.readDeadLetters()).toHaveLength(0);
      expect(await store.size()).toBe(2);
      await store.close();
    });
  });

  it("commit-first: a claim refused for the event's own fault acks the stored event as committed (claim_failures), never re-written nor dead-lettered", async () => {
    const sink = sinkAt();
    const inner = new MemoryDedupStore();
    const refused = event(1);
    const check = realCheckViolation();
    const store: DedupStore = Object.assign(Object.create(inner) as MemoryDedupStore, {
      durable: true,
      claimMany: async (ids: readonly string[], ttl: number) => {
        if (ids.includes(refused.event_id)) throw check;
        return inner.claimMany(ids, ttl);
      },
    });
    const pipeline = new Pipeline(store, sink, options);
    expect(pipeline.order).toBe('commit-first');
    const deliveries = [delivery(event(0)), delivery(refused), delivery(event(2))];
    await run(pipeline, deliveries);
    expect(deliveries.every((d) => d.acked)).toBe(true);
    expect(sink.readRows().map((r) => r.deliveries)).toEqual([1, 1, 1]);
    expect(sink.readDeadLetters()).toHaveLength(0);
    expect(pipeline.counters.dlq).toBe(0);
    expect(pipeline.counters.claim_failures).toBe(1);
    expect(pipeline.counters.committed).toBe(3);
  });

  it('a dead-letter write that fails (SQLITE_FULL) is retried until it clears: the poison message is dead-lettered and acked, not frozen', async () => {
    const sink = sinkAt();
    const full = realDiskFull();
    let failures = 3 * options.retry.max_attempts;
    const wrapper: Sink = {
      kind: sink.kind,
      mode: sink.mode,
      commit: sink.commit.bind(sink),
      deadLetter: async (entries) => {
        if (failures-- > 0) throw full;
        return sink.deadLetter(entries);
      },
      close: sink.close.bind(sink),
    };
    const pipeline = new Pipeline(new MemoryDedupStore(), wrapper, options);
    let nacked = false;
    const poison = delivery('{"not":"an event"}');
    poison.nack = () => void (nacked = true);
    const good = delivery(event(0));
    await run(pipeline, [poison, good]);
    expect(nacked).toBe(false);
    expect(poison.acked).toBe(true);
    expect(good.acked).toBe(true);
    expect(sink.readDeadLetters()).toHaveLength(1);
    expect(pipeline.counters.dlq).toBe(1);
    expect(pipeline.counters.retries).toBeGreaterThanOrEqual(3 * options.retry.max_attempts);
  });

  it('a batch that fails (retries abandoned at shutdown) is nacked and reported after the batches before it have acked', async () => {
    const sink = sinkAt();
    let failing = false;
    const flaky = failingSink(sink, () => (failing ? new TransientError('database is locked') : undefined));
    const order: string[] = [];
    const pipeline = new Pipeline(new MemoryDedupStore(), flaky, { ...options, batch_size: 1 }, () => order.push('batch failure'));
    const first = delivery(event(0));
    first.ack = () => void order.push('ack first');
    pipeline.push(first);
    await pipeline.drain();
    failing = true;
    pipeline.push({ ...delivery(event(1)), nack: () => void order.push('nack second') });
    setTimeout(() => pipeline.abandonRetries(), 30);
    await pipeline.drain();
    expect(order).toEqual(['ack first', 'nack second', 'batch failure']);
  });
});
