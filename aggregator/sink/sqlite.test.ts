import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { nowMicros } from '../clock.ts';
import { SqliteDedupStore } from '../dedup/sqlite.ts';
import { TransientError, type DeadLetter, type TransactionalClaim } from './index.ts';
import { countRows, readDeadLetters, readSinkRows, SqliteSink } from './sqlite.ts';
import { event, unwritable } from './test-events.ts';
import { tempDirs } from '../../test-support/temp-dirs.ts';

const TTL_MS = 60_000;


let dir: string;
const toClose: Array<{ close(): Promise<void> }> = [];

function track<T extends { close(): Promise<void> }>(closable: T): T {
  toClose.push(closable);
  return closable;
}

const newDir = tempDirs('sink');

beforeEach(() => {
  dir = newDir();
});

afterEach(async () => {
  for (const closable of toClose.splice(0)) await closable.close();
});

describe('SqliteSink, idempotent mode', () => {
  it('writes an event once however often it is committed, counting deliveries', async () => {
    const sink = track(new SqliteSink({ path: ':memory:', mode: 'idempotent' }));
    expect(await sink.commit([event(1)])).toEqual({ inserted: 1, already_present: 0 });
    expect(await sink.commit([event(1)])).toEqual({ inserted: 0, already_present: 1 });
    // The first batch's commit time was recorded by the second transaction.
    const [first] = sink.readRows();
    expect(first?.commit_unrecorded).toBe(0);
    // A repeat inside one batch is absorbed too.
    expect(await sink.commit([event(2), event(2), event(1)])).toEqual({ inserted: 1, already_present: 2 });

    const rows = sink.readRows();
    expect(rows.map((row) => [row.event_id, row.deliveries])).toEqual([
      [event(1).event_id, 3],
      [event(2).event_id, 2],
    ]);
    // The first commit time is kept: latency is measured to the first durable write.
    expect(rows[0]?.committed_us).toBe(first?.committed_us);
  });

  it('stores the row fields, one commit time per batch, and null intended_us without a bench stamp', async () => {
    const sink = track(new SqliteSink({ path: ':memory:', mode: 'idempotent' }));
    const before = nowMicros();
    await sink.commit([event(1), event(2, { bench: undefined, payload: undefined })]);
    const after = nowMicros();

    const rows = sink.readRows();
    expect(rows).toEqual([
      {
        event_id: event(1).event_id,
        source: 'pub-0',
        seq: 1,
        committed_us: expect.any(Number),
        // Read before the next transaction or close: the start of the transaction, flagged.
        commit_unrecorded: 1,
        intended_us: 1_767_225_600_000_001,
        deliveries: 1,
      },
      {
        event_id: event(2).event_id,
        source: 'pub-0',
        seq: 2,
        committed_us: rows[0]?.committed_us,
        commit_unrecorded: 1,
        intended_us: null,
        deliveries: 1,
      },
    ]);
    expect(rows[0]?.committed_us).toBeGreaterThanOrEqual(before);
    expect(rows[0]?.committed_us).toBeLessThanOrEqual(after);
    const stored = sink.db.prepare<[], { payload: string }>('SELECT payload FROM events ORDER BY rowid').all();
    expect(stored.map((row) => JSON.parse(row.payload))).toEqual([{ n: 1 }, null]);
  });

  it('returns an empty outcome for an empty batch', async () => {
    const sink = track(new SqliteSink({ path: ':memory:', mode: 'idempotent' }));
    expect(await sink.commit([])).toEqual({ inserted: 0, already_present: 0 });
    expect(await sink.commit([], { run: () => [], ttlMs: TTL_MS })).toEqual({
      inserted: 0,
      already_present: 0,
      claims: [],
    });
  });
});

describe('SqliteSink, append mode', () => {
  it('lands every delivery as its own row, so duplicates can be counted in the sink', async () => {
    const path = join(dir, 'append.db');
    const sink = new SqliteSink({ path, mode: 'append' });
    expect(await sink.commit([event(1)])).toEqual({ inserted: 1, already_present: 0 });
    expect(await sink.commit([event(1), event(2)])).toEqual({ inserted: 2, already_present: 0 });
    const rows = sink.readRows();
    expect(rows.map((row) => [row.event_id, row.deliveries])).toEqual([
      [event(1).event_id, 1],
      [event(1).event_id, 1],
      [event(2).event_id, 1],
    ]);
    await sink.close();
    // Closing recorded the last batch's commit time; the rows are the same.
    const closed = readSinkRows(path);
    expect(closed.map(({ event_id, deliveries }) => ({ event_id, deliveries }))).toEqual(rows.map(({ event_id, deliveries }) => ({ event_id, deliveries })));
    expect(closed.map((row) => row.commit_unrecorded)).toEqual([0, 0, 0]);
    expect(countRows(path)).toBe(3);
  });

  it('refuses to reopen a database in the other mode', async () => {
    const path = join(dir, 'sink.db');
    await new SqliteSink({ path, mode: 'append' }).close();
    expect(() => new SqliteSink({ path, mode: 'idempotent' })).toThrow(/created in 'append' mode/);
    await track(new SqliteSink({ path, mode: 'append' })).close();
  });
});

describe('SqliteSink with a transactional claim (dedup store sharing its database)', () => {
  function setup() {
    const path = join(dir, 'sink.db');
    const sink = new SqliteSink({ path, mode: 'idempotent' });
    const store = new SqliteDedupStore({ db: sink.db });
    toClose.push(store, sink);
    const claimer = store.claimerFor(sink);
    if (!claimer) throw new Error('expected a transactional claimer');
    return { path, sink, store, claim: { run: claimer, ttlMs: TTL_MS } };
  }

  it('writes only the events whose claim is new and reports the claims', async () => {
    const { sink, claim } = setup();
    expect(await sink.commit([event(1), event(2)], claim)).toEqual({
      inserted: 2,
      already_present: 0,
      claims: ['new', 'new'],
    });
    expect(await sink.commit([event(2), event(3), event(3)], claim)).toEqual({
      inserted: 1,
      already_present: 0,
      claims: ['duplicate', 'new', 'duplicate'],
    });
    expect(sink.readRows().map((row) => [row.seq, row.deliveries])).toEqual([
      [1, 1],
      [2, 1],
      [3, 1],
    ]);
  });

  it('rolls back the claims when the write fails, so the redelivery is committed exactly once', async () => {
    const { sink, store, claim } = setup();
    await expect(sink.commit([event(1), unwritable(2)], claim)).rejects.toThrow(/NOT NULL/);
    // Neither claimed nor written: the failed batch left no trace that could swallow a redelivery.
    expect(await store.size()).toBe(0);
    expect(sink.readRows()).toEqual([]);

    expect(await sink.commit([event(1), event(2)], claim)).toMatchObject({ inserted: 2, claims: ['new', 'new'] });
    expect(await sink.commit([event(1), event(2)], claim)).toMatchObject({
      inserted: 0,
      claims: ['duplicate', 'duplicate'],
    });
    expect(sink.readRows().map((row) => [row.seq, row.deliveries])).toEqual([
      [1, 1],
      [2, 1],
    ]);
  });

  it('rolls back the claims when the claim itself throws after claiming', async () => {
    const { sink, store, claim } = setup();
    const claimThenFail: TransactionalClaim = (ids, ttlMs) => {
      claim.run(ids, ttlMs);
      throw new Error('claim failed after claiming');
    };
    await expect(sink.commit([event(1)], { run: claimThenFail, ttlMs: TTL_MS })).rejects.toThrow(
      'claim failed after claiming',
    );
    expect(await store.size()).toBe(0);
    expect(await store.claimMany([event(1).event_id], TTL_MS)).toEqual(['new']);
    expect(sink.readRows()).toEqual([]);
  });

  it('rejects a claim that does not answer once per event, writing nothing', async () => {
    const { sink } = setup();
    const short: TransactionalClaim = () => ['new'];
    await expect(sink.commit([event(1), event(2)], { run: short, ttlMs: TTL_MS })).rejects.toThrow(
      /1 results for 2 events/,
    );
    expect(sink.readRows()).toEqual([]);
  });
});

describe('SqliteSink operations', () => {
  it('waits delayMs before each batch write (the slow-sink knob)', async () => {
    const sink = track(new SqliteSink({ path: ':memory:', mode: 'idempotent', delayMs: 50 }));
    const started = performance.now();
    await sink.commit([event(1)]);
    // setTimeout counts whole milliseconds on its own clock: allow 1 ms of rounding.
    expect(performance.now() - started).toBeGreaterThanOrEqual(49);
    expect(() => new SqliteSink({ path: ':memory:', mode: 'idempotent', delayMs: -1 })).toThrow(RangeError);
  });

  it('writes dead letters and reads them back, in order', async () => {
    const path = join(dir, 'sink.db');
    const sink = new SqliteSink({ path, mode: 'idempotent' });
    const letters: DeadLetter[] = [
      { raw: '{not json', topic: 'events/pub-0', reason: 'invalid JSON', event_id: null, at_us: 1 },
      { raw: '{"v":2}', topic: 'events/pub-1', reason: 'v: unsupported version 2', event_id: '01JX', at_us: 2 },
    ];
    await sink.deadLetter(letters);
    await sink.deadLetter([]);
    expect(sink.readDeadLetters()).toEqual(letters);
    await sink.close();
    expect(readDeadLetters(path)).toEqual(letters);
    expect(countRows(path)).toBe(0);
  });

  it('reads a large sink file back read-only', async () => {
    const path = join(dir, 'sink.db');
    const sink = new SqliteSink({ path, mode: 'idempotent' });
    for (let batch = 0; batch < 20; batch += 1) {
      await sink.commit(Array.from({ length: 1_000 }, (_, index) => event(batch * 1_000 + index)));
    }
    await sink.close();
    const rows = readSinkRows(path);
    expect(rows).toHaveLength(20_000);
    expect(rows[19_999]?.seq).toBe(19_999);
    expect(countRows(path)).toBe(20_000);
  });

  it('turns a busy database into TransientError, and works again once the lock is gone', async () => {
    const path = join(dir, 'sink.db');
    const sink = track(new SqliteSink({ path, mode: 'idempotent', busyTimeoutMs: 0 }));
    const other = new Database(path);
    try {
      other.exec('BEGIN IMMEDIATE');
      const commit = sink.commit([event(1)]);
      await expect(commit).rejects.toBeInstanceOf(TransientError);
      await expect(commit).rejects.toThrow(/SQLITE_BUSY/);
      await expect(sink.deadLetter([{ raw: '', topic: 't', reason: 'r', event_id: null, at_us: 0 }])).rejects.toBeInstanceOf(
        TransientError,
      );
      other.exec('ROLLBACK');
    } finally {
      other.close();
    }
    expect(await sink.commit([event(1)])).toEqual({ inserted: 1, already_present: 0 });
  });

  it('does not retry-label permanent errors', async () => {
    const sink = track(new SqliteSink({ path: ':memory:', mode: 'idempotent' }));
    const failure = await sink.commit([unwritable(1)]).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(Error);
    expect(failure).not.toBeInstanceOf(TransientError);
  });

  it('closes idempotently', async () => {
    const sink = new SqliteSink({ path: ':memory:', mode: 'idempotent' });
    await sink.close();
    await sink.close();
    expect(sink.db.open).toBe(false);
  });
});
