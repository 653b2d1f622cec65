// The Sink contract, once, for every implementation: SqliteSink (a file in a temporary directory), the
// same on a worker thread of its own (ThreadedSqliteSink, read back from the file)
// and PostgresSink (the real server at DATABASE_URL, or the local default, in a schema of its own
// that the cleanup drops). When the server is unreachable the Postgres cases fail; they are never
// skipped. Implementation details (transactional claims, SQLite locking) stay in each sink's own tests.

import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { nowMicros } from '../clock.ts';
import { MemoryDedupStore } from '../dedup/memory.ts';
import { DEFAULT_DATABASE_URL } from '../postgres.ts';
import { PostgresDedupStore } from '../dedup/postgres.ts';
import { SqliteDedupStore } from '../dedup/sqlite.ts';
import { classifyFailure } from '../failure.ts';
import { Pipeline, type PipelineOptions } from '../pipeline.ts';
import { seededRandom } from '../random.ts';
import {
  TransientError,
  type DeadLetter,
  type Sink,
  type SinkKind,
  type SinkMode,
  type SinkRow,
  type TransactionalClaim,
} from './index.ts';
import {
  countPostgresDurable,
  countPostgresRows,
  iteratePostgresSinkRows,
  PostgresSink,
  readPostgresDeadLetters,
} from './postgres.ts';
import { SinkSlowdown } from './slowdown.ts';
import { countDurable, countRows, iterateSinkRows, readDeadLetters, SqliteSink } from './sqlite.ts';
import { ThreadedSqliteSink } from './sqlite-thread.ts';
import { event, unwritable } from './test-events.ts';
import { withPostgresClient } from './test-postgres.ts';
import { tempDirs } from '../../test-support/temp-dirs.ts';

const databaseUrl = process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
/** A port nothing listens on. */
const UNREACHABLE_PORT = 1;


interface SinkOptions {
  mode: SinkMode;
  delayMs?: number;
  slowdown?: SinkSlowdown;
  holdMs?: number;
}

/** What the harness reads after a run, through the read-side helpers (the sink closed). */
interface ReadBack {
  rows: SinkRow[];
  deadLetters: DeadLetter[];
  durable: number;
  rowCount: number;
}

interface OpenedSink {
  sink: Sink;
  rows(): Promise<SinkRow[]>;
  deadLetters(): Promise<DeadLetter[]>;
  /** Another sink on the same storage (a restarted aggregator). */
  reopen(options: SinkOptions): Sink;
  readBack(): Promise<ReadBack>;
}

interface SinkCase {
  name: string;
  kind: SinkKind;
  open(options: SinkOptions): OpenedSink;
}

const cleanups: Array<() => Promise<void>> = [];
const newDir = tempDirs('sink-contract');

afterEach(async () => {
  // In reverse: sinks close before their storage goes.
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tracked<T extends { close(): Promise<void> }>(closable: T): T {
  cleanups.push(() => closable.close());
  return closable;
}

function openSqlite(options: SinkOptions): OpenedSink {
  const dir = newDir();
  const path = join(dir, 'sink.db');
  const sink = tracked(new SqliteSink({ path, ...options }));
  return {
    sink,
    rows: async () => sink.readRows(),
    deadLetters: async () => sink.readDeadLetters(),
    reopen: (again) => tracked(new SqliteSink({ path, ...again })),
    readBack: async () => {
      await sink.close();
      return { rows: [...iterateSinkRows(path)], deadLetters: readDeadLetters(path), durable: countDurable(path), rowCount: countRows(path) };
    },
  };
}

/** The SQLite sink on its own thread (setting sink_thread): read back from the file, as the harness does. */
function openSqliteThread(options: SinkOptions): OpenedSink {
  const dir = newDir();
  const path = join(dir, 'sink.db');
  const sink = tracked(new ThreadedSqliteSink({ path, ...options }));
  return {
    sink,
    rows: async () => [...iterateSinkRows(path)],
    deadLetters: async () => readDeadLetters(path),
    reopen: (again) => tracked(new ThreadedSqliteSink({ path, ...again })),
    readBack: async () => {
      await sink.close();
      return { rows: [...iterateSinkRows(path)], deadLetters: readDeadLetters(path), durable: countDurable(path), rowCount: countRows(path) };
    },
  };
}

function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  return withPostgresClient(databaseUrl, work);
}

function openPostgres(options: SinkOptions): OpenedSink {
  const schema = `chaosbench_test_sink_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  cleanups.push(() => admin((client) => client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)).then(() => {}));
  const location = { url: databaseUrl, schema };
  // The schema name doubles as application_name, so that a test can find exactly these connections.
  const sink = tracked(new PostgresSink({ ...location, applicationName: schema, ...options }));
  return {
    sink,
    rows: () => sink.readRows(),
    deadLetters: () => sink.readDeadLetters(),
    reopen: (again) => tracked(new PostgresSink({ ...location, ...again })),
    readBack: async () => {
      await sink.close();
      const rows: SinkRow[] = [];
      for await (const row of iteratePostgresSinkRows(location)) rows.push(row);
      return {
        rows,
        deadLetters: await readPostgresDeadLetters(location),
        durable: await countPostgresDurable(location),
        rowCount: await countPostgresRows(location),
      };
    },
  };
}

const cases: SinkCase[] = [
  { name: 'sqlite', kind: 'sqlite', open: openSqlite },
  { name: 'sqlite on its own thread', kind: 'sqlite', open: openSqliteThread },
  { name: 'postgres', kind: 'postgres', open: openPostgres },
];

describe.each(cases)('Sink contract: $name', (sinkCase) => {
  it('has its kind and mode', () => {
    const { sink } = sinkCase.open({ mode: 'append' });
    expect(sink.kind).toBe(sinkCase.kind);
    expect(sink.mode).toBe('append');
  });

  describe('idempotent mode', () => {
    it('counts inserted and already present exactly, with repeats inside a batch and across calls', async () => {
      const opened = sinkCase.open({ mode: 'idempotent' });
      const { sink } = opened;
      expect(await sink.commit([event(1)])).toEqual({ inserted: 1, already_present: 0 });
      expect(await sink.commit([event(1)])).toEqual({ inserted: 0, already_present: 1 });
      // The first batch's commit time was recorded by the second transaction.
      const [first] = await opened.rows();
      expect(first?.commit_unrecorded).toBe(0);
      // Repeats inside one batch, of a new id and of one already there.
      expect(await sink.commit([event(2), event(2), event(1), event(3), event(2)])).toEqual({ inserted: 2, already_present: 3 });

      const rows = await opened.rows();
      expect(rows.map((row) => [row.event_id, row.deliveries])).toEqual([
        [event(1).event_id, 3],
        [event(2).event_id, 3],
        [event(3).event_id, 1],
      ]);
      // The first commit time is kept: latency is measured to the first durable write.
      expect(rows[0]?.committed_us).toBe(first?.committed_us);
    });

    it('counts exactly in batches larger than one INSERT statement, repeats spread across them', async () => {
      const opened = sinkCase.open({ mode: 'idempotent' });
      const ids = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => event(from + i));
      // 150 events: 0..99, then 0..49 again (the repeats fall into later statements of the batch).
      expect(await opened.sink.commit([...ids(0, 100), ...ids(0, 50)])).toEqual({ inserted: 100, already_present: 50 });
      expect(await opened.sink.commit(ids(0, 150))).toEqual({ inserted: 50, already_present: 100 });
      const rows = await opened.rows();
      expect(rows).toHaveLength(150);
      expect(rows.filter((row) => row.deliveries === 3)).toHaveLength(50);
      expect(rows.filter((row) => row.deliveries === 2)).toHaveLength(50);
      expect(rows.filter((row) => row.deliveries === 1)).toHaveLength(50);
    });

    it('stores the row fields, one commit time per batch, and null intended_us without a bench stamp', async () => {
      const opened = sinkCase.open({ mode: 'idempotent' });
      const before = nowMicros();
      await opened.sink.commit([event(1), event(2, { bench: undefined, payload: undefined })]);
      const after = nowMicros();
      const { rows } = await opened.readBack();
      expect(rows).toEqual([
        { event_id: event(1).event_id, source: 'pub-0', seq: 1, committed_us: expect.any(Number), commit_unrecorded: 0, intended_us: 1_767_225_600_000_001, deliveries: 1 },
        { event_id: event(2).event_id, source: 'pub-0', seq: 2, committed_us: rows[0]?.committed_us, commit_unrecorded: 0, intended_us: null, deliveries: 1 },
      ]);
      // ± 1 ms: a sink on its own thread stamps with that thread's clock (aggregator/clock.ts).
      expect(rows[0]?.committed_us).toBeGreaterThanOrEqual(before - 1_000);
      expect(rows[0]?.committed_us).toBeLessThanOrEqual(after + 1_000);
    });

    it('committed_us is when the COMMIT returned: a hold inside the transaction moves it; recorded by the next transaction or at close', async () => {
      const HOLD_MS = 40;
      // A sink on its own thread stamps with that thread's clock, anchored on its own
      // (aggregator/clock.ts: within ~20 µs): a millisecond of slack, far below the hold it tells apart.
      const SLACK_US = 1_000;
      const opened = sinkCase.open({ mode: 'idempotent', holdMs: HOLD_MS });
      const before = nowMicros();
      await opened.sink.commit([event(1)]);
      const returned = nowMicros();
      // Before the next transaction the return time is not in the sink yet: the row reads back
      // with the start of its transaction, flagged.
      const [pending] = await opened.rows();
      expect(pending?.commit_unrecorded).toBe(1);
      expect(pending?.committed_us).toBeGreaterThanOrEqual(before - SLACK_US);
      expect(pending?.committed_us).toBeLessThan(returned - HOLD_MS * 1000 + SLACK_US);
      await opened.sink.commit([event(2)]);
      const [recorded] = await opened.rows();
      expect(recorded?.commit_unrecorded).toBe(0);
      expect(recorded?.committed_us).toBeGreaterThanOrEqual(before + HOLD_MS * 1000 - SLACK_US);
      expect(recorded?.committed_us).toBeLessThanOrEqual(returned + SLACK_US);
      // The last batch's return time is written at close.
      const { rows } = await opened.readBack();
      expect(rows.map((row) => row.commit_unrecorded)).toEqual([0, 0]);
      expect(rows[1]!.committed_us - rows[0]!.committed_us).toBeGreaterThanOrEqual(HOLD_MS * 1000);
    });

    it('a batch whose commit time was never recorded (the process died after its COMMIT) reads back at its transaction start, flagged', async () => {
      const opened = sinkCase.open({ mode: 'idempotent', holdMs: 20 });
      const before = nowMicros();
      await opened.sink.commit([event(1)]);
      // A restarted aggregator on the same storage; the first one never writes again.
      const again = opened.reopen({ mode: 'idempotent' });
      await again.commit([event(2)]);
      await again.close();
      const rows = await opened.rows();
      expect(rows.map((row) => [row.seq, row.commit_unrecorded])).toEqual([
        [1, 1],
        [2, 0],
      ]);
      expect(rows[0]!.committed_us).toBeGreaterThanOrEqual(before);
      expect(rows[0]!.committed_us).toBeLessThan(rows[1]!.committed_us);
    });

    it('returns an empty outcome for an empty batch', async () => {
      const { sink } = sinkCase.open({ mode: 'idempotent' });
      expect(await sink.commit([])).toEqual({ inserted: 0, already_present: 0 });
    });

    it('keeps absorbing repeats after a restart (the key is in the storage, not the process)', async () => {
      const opened = sinkCase.open({ mode: 'idempotent' });
      await opened.sink.commit([event(1), event(2)]);
      await opened.sink.close();
      const again = opened.reopen({ mode: 'idempotent' });
      expect(await again.commit([event(2), event(3)])).toEqual({ inserted: 1, already_present: 1 });
      await again.close();
      const back = await opened.readBack();
      expect(back.rows.map((row) => [row.seq, row.deliveries])).toEqual([
        [1, 1],
        [2, 2],
        [3, 1],
      ]);
    });
  });

  describe('append mode', () => {
    it('keeps every delivery as its own row', async () => {
      const opened = sinkCase.open({ mode: 'append' });
      expect(await opened.sink.commit([event(1)])).toEqual({ inserted: 1, already_present: 0 });
      expect(await opened.sink.commit([event(1), event(2), event(2)])).toEqual({ inserted: 3, already_present: 0 });
      expect((await opened.rows()).map((row) => [row.event_id, row.deliveries])).toEqual([
        [event(1).event_id, 1],
        [event(1).event_id, 1],
        [event(2).event_id, 1],
        [event(2).event_id, 1],
      ]);
      const back = await opened.readBack();
      expect(back.rowCount).toBe(4);
      expect(back.durable).toBe(2);
    });

    it('refuses to reopen its storage in the other mode', async () => {
      const opened = sinkCase.open({ mode: 'append' });
      await opened.sink.commit([event(1)]);
      await opened.sink.close();
      // SQLite checks when it opens, Postgres when it first needs the schema.
      await expect(Promise.resolve().then(() => opened.reopen({ mode: 'idempotent' }).commit([event(2)]))).rejects.toThrow(
        /created in 'append' mode/,
      );
    });
  });

  it.each(['idempotent', 'append'] as const)('preserves commit order across batches (%s)', async (mode) => {
    const opened = sinkCase.open({ mode });
    await opened.sink.commit([event(5), event(3), event(9)]);
    await opened.sink.commit([event(1), event(7)]);
    await opened.sink.commit([event(2)]);
    const expected = [5, 3, 9, 1, 7, 2];
    expect((await opened.rows()).map((row) => row.seq)).toEqual(expected);
    expect((await opened.readBack()).rows.map((row) => row.seq)).toEqual(expected);
  });

  it.each(['idempotent', 'append'] as const)('leaves nothing half-written when a batch fails (%s)', async (mode) => {
    const opened = sinkCase.open({ mode });
    await opened.sink.commit([event(1)]);
    const failure = await opened.sink.commit([event(2), event(1), unwritable(3), event(4)]).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(Error);
    // A constraint violation is permanent: retrying it cannot help. It is the event's own fault
    // (NOT NULL: SQLITE_CONSTRAINT_NOTNULL, SQLSTATE 23502), the one kind the pipeline may dead-letter.
    expect(failure).not.toBeInstanceOf(TransientError);
    expect(classifyFailure(failure).class).toBe('event');
    expect((await opened.rows()).map((row) => [row.seq, row.deliveries])).toEqual([[1, 1]]);
    // The sink still works, and the batch's events commit normally afterwards.
    expect(await opened.sink.commit([event(2), event(4)])).toEqual({ inserted: 2, already_present: 0 });
    expect((await opened.rows()).map((row) => row.seq)).toEqual([1, 2, 4]);
  });

  it('stores dead letters with their reasons, in order, and reads them back', async () => {
    const opened = sinkCase.open({ mode: 'idempotent' });
    const letters: DeadLetter[] = [
      { raw: '{not json', topic: 'events/pub-0', reason: 'invalid JSON', event_id: null, at_us: 1_767_225_600_000_001 },
      { raw: '{"v":2,"é":"ü"}', topic: 'events/pub-1', reason: 'v: unsupported version 2', event_id: '01JX', at_us: 2 },
    ];
    await opened.sink.deadLetter(letters);
    await opened.sink.deadLetter([]);
    await opened.sink.deadLetter([{ raw: 'x', topic: 't', reason: 'payload too large', event_id: null, at_us: 3 }]);
    const all = [...letters, { raw: 'x', topic: 't', reason: 'payload too large', event_id: null, at_us: 3 }];
    expect(await opened.deadLetters()).toEqual(all);
    await opened.sink.commit([event(1), event(2)]);
    const back = await opened.readBack();
    expect(back.deadLetters).toEqual(all);
    // Distinct events plus dead letters.
    expect(back.durable).toBe(5);
    expect(back.rowCount).toBe(2);
  });

  it('waits the slowdown delay before each batch write', async () => {
    const { sink } = sinkCase.open({ mode: 'idempotent', delayMs: 50 });
    await sink.commit([event(0)]); // the first commit may create the schema: keep it out of the timing
    let started = performance.now();
    await sink.commit([event(1)]);
    // setTimeout counts whole milliseconds on its own clock: allow 1 ms of rounding.
    expect(performance.now() - started).toBeGreaterThanOrEqual(49);

    const slowdown = new SinkSlowdown(0, 1);
    const stalled = sinkCase.open({ mode: 'idempotent', slowdown });
    await stalled.sink.commit([event(0)]);
    slowdown.stall(80);
    started = performance.now();
    await stalled.sink.commit([event(1)]);
    expect(performance.now() - started).toBeGreaterThanOrEqual(75);
    expect(() => sinkCase.open({ mode: 'idempotent', delayMs: -1 })).toThrow(RangeError);
  });

  it('reads a large sink back in commit order', async () => {
    const opened = sinkCase.open({ mode: 'idempotent' });
    for (let batch = 0; batch < 25; batch += 1) {
      await opened.sink.commit(Array.from({ length: 1_000 }, (_, index) => event(batch * 1_000 + index)));
    }
    const back = await opened.readBack();
    expect(back.rows).toHaveLength(25_000);
    expect(back.rows.every((row, index) => row.seq === index)).toBe(true);
    expect(back.durable).toBe(25_000);
  });

  it('serves the pipeline: a volatile store goes claim-first, a postgres store transactional on a postgres sink, else commit-first', async () => {
    const { sink } = sinkCase.open({ mode: 'idempotent' });
    const options = pipelineOptions();
    expect(new Pipeline(new MemoryDedupStore(), sink, options).order).toBe('claim-first');
    const durable = new PostgresDedupStore({ url: databaseUrl, schema: 'chaosbench_test_unused' });
    try {
      expect(new Pipeline(durable, sink, options).order).toBe(sinkCase.kind === 'postgres' ? 'transactional' : 'commit-first');
    } finally {
      await durable.close();
    }
  });
});

describe('PostgresSink on a server', () => {
  let schema: string;
  beforeEach(() => {
    schema = `chaosbench_test_sink_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
    cleanups.push(() => admin((client) => client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)).then(() => {}));
  });

  it('turns an unreachable server into TransientError', async () => {
    const sink = tracked(
      new PostgresSink({ url: `postgres://postgres@127.0.0.1:${UNREACHABLE_PORT}/test`, schema, mode: 'idempotent', connectTimeoutMs: 1_000 }),
    );
    await expect(sink.open()).rejects.toBeInstanceOf(TransientError);
    await expect(sink.commit([event(1)])).rejects.toBeInstanceOf(TransientError);
    await expect(sink.deadLetter([{ raw: '', topic: 't', reason: 'r', event_id: null, at_us: 0 }])).rejects.toBeInstanceOf(TransientError);
  });

  it('works again after the server drops its connections', async () => {
    const sink = tracked(new PostgresSink({ url: databaseUrl, schema, applicationName: schema, mode: 'idempotent' }));
    await sink.commit([event(1)]);
    const { rows } = await admin((client) =>
      client.query<{ terminated: boolean }>(
        'SELECT pg_terminate_backend(pid, 5000) AS terminated FROM pg_stat_activity WHERE application_name = $1',
        [schema],
      ),
    );
    expect(rows.length).toBeGreaterThan(0);
    // The pool may hand out the dead connection once: that commit fails transiently, the retry works.
    let outcome = await sink.commit([event(1), event(2)]).catch((error: unknown) => error);
    if (outcome instanceof Error) {
      expect(outcome).toBeInstanceOf(TransientError);
      outcome = await sink.commit([event(1), event(2)]);
    }
    expect(outcome).toEqual({ inserted: 1, already_present: 1 });
    expect((await sink.readRows()).map((row) => [row.seq, row.deliveries])).toEqual([
      [1, 2],
      [2, 1],
    ]);
  });

  it('stores a dead letter whose raw text holds NUL (Postgres text cannot), instead of failing forever', async () => {
    const sink = tracked(new PostgresSink({ url: databaseUrl, schema, mode: 'idempotent' }));
    await sink.deadLetter([{ raw: 'a\u0000b', topic: 'events/x', reason: 'invalid JSON', event_id: null, at_us: 1 }]);
    expect((await sink.readDeadLetters())[0]?.raw).toBe('a\uFFFDb');
  });

  it('rejects a payload jsonb refuses as a permanent error (the pipeline then dead-letters that event alone)', async () => {
    const sink = tracked(new PostgresSink({ url: databaseUrl, schema, mode: 'idempotent' }));
    const failure = await sink.commit([event(1, { payload: { s: 'nul \u0000 inside' } })]).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(Error);
    expect(failure).not.toBeInstanceOf(TransientError);
    // A fault of the event (SQLSTATE 22P05), so the pipeline may dead-letter it; the parser refuses such events before they get here.
    expect(classifyFailure(failure)).toMatchObject({ class: 'event', code: 'postgres 22P05' });
    expect(await sink.readRows()).toEqual([]);
  });

  it('two sinks (processes) committing the same events at once write each once and count each once', async () => {
    const sinks = [0, 1].map(() => tracked(new PostgresSink({ url: databaseUrl, schema, mode: 'idempotent' })));
    await Promise.all(sinks.map((sink) => sink.open()));
    const batch = Array.from({ length: 200 }, (_, index) => event(index));
    const outcomes = await Promise.all(sinks.flatMap((sink) => [sink.commit(batch), sink.commit(batch)]));
    expect(outcomes.reduce((sum, outcome) => sum + outcome.inserted, 0)).toBe(200);
    expect(outcomes.reduce((sum, outcome) => sum + outcome.already_present, 0)).toBe(600);
    const rows = await sinks[0]!.readRows();
    expect(rows).toHaveLength(200);
    expect(rows.every((row) => row.deliveries === 4)).toBe(true);
  });

  it('refuses a schema name that is not a plain identifier', () => {
    expect(() => new PostgresSink({ url: databaseUrl, schema: 'Bad"Name', mode: 'idempotent' })).toThrow(RangeError);
  });
});

describe('PostgresSink with a transactional claim (PostgresDedupStore on the same database)', () => {
  const TTL_MS = 60_000;
  let schema: string;
  beforeEach(() => {
    schema = `chaosbench_test_sink_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
    cleanups.push(() => admin((client) => client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)).then(() => {}));
  });

  function setup(mode: SinkMode = 'idempotent') {
    const sink = tracked(new PostgresSink({ url: databaseUrl, schema, mode }));
    const store = tracked(new PostgresDedupStore({ url: databaseUrl, schema }));
    const claimer = store.claimerFor(sink);
    if (!claimer) throw new Error('expected a transactional claimer');
    return { sink, store, claim: { run: claimer, ttlMs: TTL_MS } };
  }

  it('is offered only for a PostgresSink on the same database', async () => {
    const { sink, store } = setup();
    expect(store.claimerFor(sink)).toBeTypeOf('function');
    const elsewhere = tracked(new PostgresSink({ url: databaseUrl.replace(/\/[^/]*$/, '/other_db'), schema, mode: 'idempotent' }));
    expect(store.claimerFor(elsewhere)).toBeUndefined();
    const sqlite = tracked(new SqliteSink({ path: ':memory:', mode: 'idempotent' }));
    expect(store.claimerFor(sqlite)).toBeUndefined();
    expect(new SqliteDedupStore({ db: sqlite.db }).claimerFor(sink)).toBeUndefined();
    expect(new Pipeline(store, sink, pipelineOptions()).order).toBe('transactional');
  });

  it.each(['idempotent', 'append'] as const)('writes only the events whose claim is new and reports the claims (%s)', async (mode) => {
    const { sink, claim } = setup(mode);
    expect(await sink.commit([event(1), event(2)], claim)).toEqual({ inserted: 2, already_present: 0, claims: ['new', 'new'] });
    expect(await sink.commit([event(2), event(3), event(3)], claim)).toEqual({
      inserted: 1,
      already_present: 0,
      claims: ['duplicate', 'new', 'duplicate'],
    });
    expect(await sink.commit([event(1)], claim)).toEqual({ inserted: 0, already_present: 0, claims: ['duplicate'] });
    expect(await sink.commit([], claim)).toEqual({ inserted: 0, already_present: 0, claims: [] });
    expect((await sink.readRows()).map((row) => [row.seq, row.deliveries])).toEqual([
      [1, 1],
      [2, 1],
      [3, 1],
    ]);
  });

  it('rolls back the claims when the write fails, so the redelivery is committed exactly once', async () => {
    const { sink, store, claim } = setup();
    const failure = await sink.commit([event(1), unwritable(2)], claim).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(Error);
    expect(failure).not.toBeInstanceOf(TransientError);
    // Neither claimed nor written: the failed batch left no trace that could swallow a redelivery.
    expect(await store.size()).toBe(0);
    expect(await sink.readRows()).toEqual([]);
    expect(await sink.commit([event(1), event(2)], claim)).toMatchObject({ inserted: 2, claims: ['new', 'new'] });
    expect(await sink.commit([event(1), event(2)], claim)).toMatchObject({ inserted: 0, claims: ['duplicate', 'duplicate'] });
    expect(await store.size()).toBe(2);
  });

  it('rolls back the claims when the claim itself fails after claiming', async () => {
    const { sink, store, claim } = setup();
    const claimThenFail: TransactionalClaim = async (ids, ttlMs, transaction) => {
      await claim.run(ids, ttlMs, transaction);
      throw new TransientError('injected: dies between claim and commit');
    };
    await expect(sink.commit([event(1)], { run: claimThenFail, ttlMs: TTL_MS })).rejects.toBeInstanceOf(TransientError);
    expect(await store.size()).toBe(0);
    expect(await sink.readRows()).toEqual([]);
    expect(await store.claimMany([event(1).event_id], TTL_MS)).toEqual(['new']);
  });

  it('rejects a claim that does not answer once per event, and a claim run outside a sink transaction', async () => {
    const { sink, claim } = setup();
    await expect(sink.commit([event(1), event(2)], { run: async () => ['new'], ttlMs: TTL_MS })).rejects.toThrow(/1 results for 2 events/);
    expect(await sink.readRows()).toEqual([]);
    await expect(Promise.resolve(claim.run([event(1).event_id], TTL_MS))).rejects.toThrow(/inside a PostgresSink transaction/);
  });

  it('the SQLite sink refuses an async claim, writing nothing', async () => {
    const sqlite = tracked(new SqliteSink({ path: ':memory:', mode: 'idempotent' }));
    await expect(sqlite.commit([event(1)], { run: async () => ['new'], ttlMs: TTL_MS })).rejects.toThrow(/must be synchronous/);
    expect(sqlite.readRows()).toEqual([]);
  });

  it('runs a whole pipeline transactionally: every event committed once, repeats absorbed by the claim', async () => {
    const { sink, store } = setup();
    const pipeline = new Pipeline(store, sink, pipelineOptions());
    const acked: number[] = [];
    const deliveries = [1, 2, 3, 2, 1, 4, 4, 5];
    for (const [index, seq] of deliveries.entries()) {
      pipeline.push({ topic: 'events/pub-0', payload: Buffer.from(JSON.stringify(event(seq))), dup: false, ack: () => acked.push(index) });
    }
    await pipeline.drain();
    expect(acked).toHaveLength(deliveries.length);
    expect((await sink.readRows()).map((row) => [row.seq, row.deliveries])).toEqual([
      [1, 1],
      [2, 1],
      [3, 1],
      [4, 1],
      [5, 1],
    ]);
    expect(pipeline.counters).toMatchObject({ committed: 5, duplicates_absorbed: 3, duplicates_absorbed_by_sink: 0 });
  });
});

function pipelineOptions(): PipelineOptions {
  return {
    batch_size: 3,
    batch_wait_ms: 1,
    dedup_ttl_ms: 60_000,
    retry: { max_attempts: 3, base_ms: 1, cap_ms: 5 },
    parse: { maxPayloadBytes: 64 * 1024 },
    random: seededRandom(1),
  };
}
