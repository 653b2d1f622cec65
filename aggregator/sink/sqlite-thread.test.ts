// ThreadedSqliteSink beyond the shared contract (contract.test.ts): what crossing a thread changes.
// The point of it: a commit no longer blocks the thread that receives and parses (the SQLite sink in
// the main thread does, which the first case shows side by side). And what must not change: a busy
// database is still a TransientError with SQLite's code, and a thread that has gone fails every
// request as a fault of the store (a stall), never as a fault of an event (a dead letter).

import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { classifyFailure } from '../failure.ts';
import { TransientError, type Sink } from './index.ts';
import { SqliteSink } from './sqlite.ts';
import { ThreadedSqliteSink } from './sqlite-thread.ts';
import { event } from './test-events.ts';
import { sqliteSinkOnThread } from '../service.ts';
import { parseDedupSpec } from '../dedup/registry.ts';
import { tempDirs } from '../../test-support/temp-dirs.ts';

const newDir = tempDirs('sink-thread');
const open: Sink[] = [];
afterEach(async () => {
  for (const sink of open.splice(0)) await sink.close();
});
function track<T extends Sink>(sink: T): T {
  open.push(sink);
  return sink;
}

/** What happens first: a timer due while a commit is held inside its transaction, or the commit's return. */
async function firstOfTimerAndHeldCommit(sink: Sink): Promise<string[]> {
  await sink.commit([event(0)]); // the thread is up and the schema made
  const order: string[] = [];
  const commit = sink.commit([event(1)]).then(() => order.push('commit returned'));
  const timer = new Promise<void>((resolve) =>
    setTimeout(() => {
      order.push('timer');
      resolve();
    }, 20),
  );
  await Promise.all([commit, timer]);
  return order;
}

describe('ThreadedSqliteSink', () => {
  it('leaves this thread free while a batch commits (the SQLite sink in this thread blocks it)', async () => {
    // holdMs holds each transaction open before COMMIT (a slow COMMIT), far longer than the timer's 20 ms.
    const threaded = track(new ThreadedSqliteSink({ path: join(newDir(), 'sink.db'), mode: 'idempotent', holdMs: 500 }));
    expect(await firstOfTimerAndHeldCommit(threaded)).toEqual(['timer', 'commit returned']);
    const inThread = track(new SqliteSink({ path: join(newDir(), 'sink.db'), mode: 'idempotent', holdMs: 500 }));
    expect(await firstOfTimerAndHeldCommit(inThread)).toEqual(['commit returned', 'timer']);
  });

  it('turns a busy database into TransientError with SQLite code, and works again once the lock is gone', async () => {
    const path = join(newDir(), 'sink.db');
    const sink = track(new ThreadedSqliteSink({ path, mode: 'idempotent', busyTimeoutMs: 0 }));
    await sink.commit([event(0)]);
    const other = new Database(path);
    try {
      other.exec('BEGIN IMMEDIATE');
      const failure = await sink.commit([event(1)]).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(TransientError);
      expect(String(failure)).toMatch(/SQLITE_BUSY/);
      expect(classifyFailure(failure).class).toBe('infrastructure');
      await expect(sink.deadLetter([{ raw: '', topic: 't', reason: 'r', event_id: null, at_us: 0 }])).rejects.toBeInstanceOf(TransientError);
      other.exec('ROLLBACK');
    } finally {
      other.close();
    }
    expect(await sink.commit([event(1)])).toEqual({ inserted: 1, already_present: 0 });
  });

  it('once its thread has gone, fails every request as a fault of the store (a stall, never a dead letter)', async () => {
    const sink = new ThreadedSqliteSink({ path: join(newDir(), 'sink.db'), mode: 'idempotent' });
    await sink.commit([event(0)]);
    await sink.close();
    const failure = await sink.commit([event(1)]).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(Error);
    expect(classifyFailure(failure).class).toBe('infrastructure');
    await sink.close(); // idempotent
  });

  it('refuses a claim inside its transaction (a sqlite dedup store in its database keeps the sink in the main thread)', async () => {
    const sink = track(new ThreadedSqliteSink({ path: join(newDir(), 'sink.db'), mode: 'idempotent' }));
    await expect(sink.commit([event(1)], { run: (ids) => ids.map(() => 'new' as const), ttlMs: 1_000 })).rejects.toThrow(/cannot run a claim/);
  });
});

describe('sink_thread: where the service puts a SQLite sink', () => {
  it.each([
    [true, 'memory', true],
    [true, 'redis', true],
    [true, 'sqlite:/tmp/claims.db', true],
    [true, 'sqlite', false],
    [false, 'memory', false],
    [false, 'redis', false],
  ] as const)('sink_thread %s beside dedup %s: on its own thread %s', (setting, dedup, expected) => {
    expect(sqliteSinkOnThread(setting, parseDedupSpec(dedup))).toBe(expected);
  });
});
