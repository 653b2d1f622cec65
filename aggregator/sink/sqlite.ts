// SQLite sink: the reference aggregator's durable store of committed events and dead letters, plus
// the read helpers the harness ledger uses on the file after a run.
// It must never acknowledge a write that is not durable: commit() resolves only after the
// transaction has committed, and a transaction either writes the whole batch (and its dedup claim,
// when the claim shares this database) or nothing.
//
// Durability: WAL with synchronous=NORMAL. A committed transaction survives a crash of the
// *process* (the WAL is in the OS page cache and written back later), which is the fault this bench
// injects (kill -9 of the aggregator). It may lose the last transactions on power loss or an OS
// crash; synchronous=FULL would cover that at the cost of one fsync per commit.
//
// Commit time: a row cannot hold the time its own COMMIT returned, so each batch's rows carry the
// batch's key, batch_started_us (when its transaction started, strictly increasing), and the time
// its COMMIT returned goes into `commits` with the sink's next transaction (one more small row in a
// transaction that happens anyway, not a transaction of its own), or at close(). The readers join
// them (SinkRow.committed_us); a batch whose record was never written (the process killed between
// its COMMIT and the next) reads back with its start time, flagged commit_unrecorded.
//
// Deliveries (idempotent mode): a repeated event_id is absorbed with
// `ON CONFLICT(event_id) DO UPDATE SET deliveries = deliveries + 1`, not DO NOTHING. The row keeps
// its first batch (latency is measured to the first durable write) and `deliveries` counts
// every delivery that reached the sink, so a reader can tell "duplicate absorbed by the sink" from
// "duplicate absorbed by the dedup store" without trusting the aggregator's own counters.
// In append mode every write is a new row with deliveries = 1: duplicates land as extra rows.

import Database from 'better-sqlite3';
import { nowMicros, sleep } from '../clock.ts';
import { SinkSlowdown } from './slowdown.ts';
import type { Event } from '../event/types.ts';
import { payloadJson } from '../event/parse.ts';
import type { ClaimResult } from '../dedup/claim.ts';
import {
  TransientError,
  type CommitOutcome,
  type DeadLetter,
  type Sink,
  type SinkMode,
  type SinkRow,
  type TransactionalClaim,
} from './index.ts';

export interface SqliteSinkOptions {
  /** File path, or ':memory:' for a private in-memory database (tests). */
  path: string;
  mode: SinkMode;
  /** Artificial delay awaited before every batch write: the slow-sink knob. Default 0. */
  delayMs?: number;
  /** What decides the delay at run time (jitter, stalls); built from delayMs when absent. */
  slowdown?: SinkSlowdown;
  /** How long a write waits for another connection's lock before failing with SQLITE_BUSY. Default 5000. */
  busyTimeoutMs?: number;
  /**
   * Calibration hook: the thread is held this long inside every batch's transaction, after its rows
   * are written and before COMMIT (a slow COMMIT; better-sqlite3 blocks like an fsync). Default 0.
   */
  holdMs?: number;
}

const SCHEMA_VERSION = '2';
const DEFAULT_BUSY_TIMEOUT_MS = 5_000;

// Same columns in both modes so that one reader serves both; only the key differs.
const EVENT_COLUMNS = `
  source TEXT NOT NULL,
  seq INTEGER NOT NULL,
  topic TEXT NOT NULL,
  ts TEXT NOT NULL,
  payload TEXT NOT NULL,
  intended_us INTEGER,
  batch_started_us INTEGER NOT NULL,
  deliveries INTEGER NOT NULL DEFAULT 1`;

const CREATE_EVENTS: Record<SinkMode, string> = {
  idempotent: `CREATE TABLE IF NOT EXISTS events (event_id TEXT PRIMARY KEY, ${EVENT_COLUMNS})`,
  // A rowid table with no unique key: a duplicate really becomes a second row.
  append: `CREATE TABLE IF NOT EXISTS events (row_id INTEGER PRIMARY KEY, event_id TEXT NOT NULL, ${EVENT_COLUMNS})`,
};

const CREATE_DLQ = `CREATE TABLE IF NOT EXISTS dlq (
  id INTEGER PRIMARY KEY,
  event_id TEXT,
  topic TEXT NOT NULL,
  reason TEXT NOT NULL,
  raw TEXT NOT NULL,
  at_us INTEGER NOT NULL
)`;

/** When each batch's COMMIT returned (see the header): one row per batch that wrote rows. */
const CREATE_COMMITS = 'CREATE TABLE IF NOT EXISTS commits (batch_started_us INTEGER PRIMARY KEY, committed_us INTEGER NOT NULL)';

const CREATE_META = 'CREATE TABLE IF NOT EXISTS sink_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)';

const INSERT_COLUMNS = 'event_id, source, seq, topic, ts, payload, intended_us, batch_started_us';
const ROW_PLACEHOLDERS = '(?, ?, ?, ?, ?, ?, ?, ?)';
/** 8 parameters per row; SQLite allows 32,766 per statement. */
const ROWS_PER_INSERT = 64;

// Only the columns a SinkRow needs; rowid order is commit order in both modes.
const SELECT_ROWS = `SELECT e.event_id, e.source, e.seq, COALESCE(c.committed_us, e.batch_started_us) AS committed_us,
    c.committed_us IS NULL AS commit_unrecorded, e.intended_us, e.deliveries
  FROM events e LEFT JOIN commits c ON c.batch_started_us = e.batch_started_us ORDER BY e.rowid`;
const SELECT_DEAD_LETTERS = 'SELECT raw, topic, reason, event_id, at_us FROM dlq ORDER BY id';

/** SQLITE_BUSY / SQLITE_LOCKED (and their extended codes) are worth retrying; nothing else is. */
export function isTransientSqliteError(error: unknown): boolean {
  if (!(error instanceof Database.SqliteError)) return false;
  return error.code.startsWith('SQLITE_BUSY') || error.code.startsWith('SQLITE_LOCKED');
}

/** What to rethrow from a failed SQLite write: busy/locked become TransientError, the rest as is. */
export function toTransientIfBusy(error: unknown): unknown {
  if (error instanceof Database.SqliteError && isTransientSqliteError(error)) {
    return new TransientError(`${error.code}: ${error.message}`, { cause: error });
  }
  return error;
}

export class SqliteSink implements Sink {
  readonly kind = 'sqlite' as const;
  readonly mode: SinkMode;
  /** The connection; a SqliteDedupStore built on this same handle can join commit transactions. */
  readonly db: Database.Database;
  readonly slowdown: SinkSlowdown;
  private readonly writeBatch: (
    rows: readonly SinkRowValues[],
    claim: { run: TransactionalClaim; ttlMs: number } | undefined,
    batchStartedUs: number,
    recording: readonly BatchCommit[],
  ) => CommitOutcome & { claims?: ClaimResult[] };
  private readonly writeDeadLetters: (entries: readonly DeadLetter[]) => void;
  private readonly recordCommits: (commits: readonly BatchCommit[]) => void;
  /** Batches whose COMMIT has returned and whose return time is not yet in `commits`. */
  private unrecorded: BatchCommit[] = [];
  private lastBatchStartedUs = 0;

  constructor(options: SqliteSinkOptions) {
    const delayMs = options.delayMs ?? 0;
    if (!Number.isFinite(delayMs) || delayMs < 0) {
      throw new RangeError(`delayMs must be a finite number >= 0, got ${delayMs}`);
    }
    this.mode = options.mode;
    this.slowdown = options.slowdown ?? new SinkSlowdown(delayMs, 0);
    const holdMs = options.holdMs ?? 0;
    // Atomics.wait blocks this thread without spinning: a COMMIT that takes holdMs longer.
    const hold = holdMs > 0 ? () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, holdMs) : undefined;
    this.db = new Database(options.path);
    try {
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      this.db.pragma(`busy_timeout = ${Math.trunc(options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS)}`);
      this.createSchema();
    } catch (error) {
      this.db.close();
      throw error;
    }

    // Rows go in with multi-row INSERTs of up to ROWS_PER_INSERT rows and positional parameters:
    // one statement step per row and a parameter object per row cost more than SQLite's own work
    // (200,000 events in batches of 200 on this machine: about 113,000 ev/s one row per statement,
    // about 160,000 with 64 rows per statement). A statement per row count is prepared once and kept.
    const conflict = this.mode === 'idempotent' ? ' ON CONFLICT(event_id) DO UPDATE SET deliveries = deliveries + 1' : '';
    // pluck(): each returned row is its one value, not an object (less garbage per row).
    const statements = new Map<number, Database.Statement<unknown[], number>>();
    const insertRows = (rows: number) => {
      let statement = statements.get(rows);
      if (!statement) {
        const values = Array.from({ length: rows }, () => ROW_PLACEHOLDERS).join(', ');
        statement = this.db
          .prepare<unknown[], number>(`INSERT INTO events (${INSERT_COLUMNS}) VALUES ${values}${conflict} RETURNING deliveries`)
          .pluck();
        statements.set(rows, statement);
      }
      return statement;
    };

    const insertCommit = this.db.prepare<[number, number]>('INSERT OR IGNORE INTO commits (batch_started_us, committed_us) VALUES (?, ?)');
    const insertCommits = (commits: readonly BatchCommit[]) => {
      for (const commit of commits) insertCommit.run(commit.batch_started_us, commit.committed_us);
    };
    const writeBatch = this.db.transaction(
      (
        rows: readonly SinkRowValues[],
        claim: { run: TransactionalClaim; ttlMs: number } | undefined,
        batchStartedUs: number,
        recording: readonly BatchCommit[],
      ) => {
        insertCommits(recording);
        let claims: ClaimResult[] | undefined;
        if (claim) {
          const answered = claim.run(
            rows.map((row) => row[0]),
            claim.ttlMs,
          );
          if (answered instanceof Promise) {
            answered.catch(() => {});
            throw new Error('a SQLite sink transaction cannot await a claim: the claim must be synchronous');
          }
          claims = answered;
          if (claims.length !== rows.length) {
            throw new Error(`claim returned ${claims.length} results for ${rows.length} events`);
          }
        }
        const fresh = claims ? rows.filter((_, index) => claims![index] === 'new') : rows;
        let inserted = 0;
        let alreadyPresent = 0;
        for (let start = 0; start < fresh.length; start += ROWS_PER_INSERT) {
          const chunk = fresh.slice(start, start + ROWS_PER_INSERT);
          const params: unknown[] = [];
          for (const row of chunk) params.push(...row, batchStartedUs);
          // One returned row per inserted or updated row; deliveries is 1 only on the insert that
          // created the row (always, in append mode). Their order does not matter for the counts.
          for (const deliveries of insertRows(chunk.length).all(params)) {
            if (deliveries === 1) inserted += 1;
            else alreadyPresent += 1;
          }
        }
        const outcome: CommitOutcome & { claims?: ClaimResult[] } = {
          inserted,
          already_present: alreadyPresent,
        };
        if (claims) outcome.claims = claims;
        hold?.();
        return outcome;
      },
    );
    // IMMEDIATE takes the write lock at BEGIN, so the busy timeout applies there instead of a
    // deferred transaction failing half-way when it upgrades from read to write.
    this.writeBatch = (rows, claim, batchStartedUs, recording) => writeBatch.immediate(rows, claim, batchStartedUs, recording);
    const recordCommits = this.db.transaction(insertCommits);
    this.recordCommits = (commits) => recordCommits.immediate(commits);

    const insertDeadLetter = this.db.prepare<DeadLetter>(
      'INSERT INTO dlq (event_id, topic, reason, raw, at_us) VALUES (@event_id, @topic, @reason, @raw, @at_us)',
    );
    const writeDeadLetters = this.db.transaction((entries: readonly DeadLetter[]) => {
      for (const entry of entries) insertDeadLetter.run(entry);
    });
    this.writeDeadLetters = (entries) => writeDeadLetters.immediate(entries);
  }

  /**
   * Idempotent mode: `inserted` counts new rows, `already_present` the deliveries absorbed by the
   * key. Append mode absorbs nothing: every written event counts as inserted (as an extra row when
   * its id is already there), already_present is always 0.
   */
  async commit(
    events: readonly Event[],
    claim?: { run: TransactionalClaim; ttlMs: number },
  ): Promise<CommitOutcome & { claims?: ClaimResult[] }> {
    const delay = this.slowdown.nextDelayMs();
    if (delay > 0) await sleep(delay);
    if (this.slowdown.nextFails()) throw new TransientError('injected transient sink error (slow-sink error_rate)');
    return this.commitRows(events.map(sinkRowValues), claim);
  }

  /**
   * commit() without the slow-down knob, of rows already in their column order (sinkRowValues):
   * what the sink's worker thread (sqlite-thread.ts) is sent, since events cross threads as copies.
   */
  commitRows(
    rows: readonly SinkRowValues[],
    claim?: { run: TransactionalClaim; ttlMs: number },
  ): CommitOutcome & { claims?: ClaimResult[] } {
    if (rows.length === 0) {
      return claim ? { inserted: 0, already_present: 0, claims: [] } : { inserted: 0, already_present: 0 };
    }
    const batchStartedUs = Math.max(nowMicros(), this.lastBatchStartedUs + 1);
    this.lastBatchStartedUs = batchStartedUs;
    const recording = this.unrecorded;
    let outcome: CommitOutcome & { claims?: ClaimResult[] };
    try {
      outcome = this.writeBatch(rows, claim, batchStartedUs, recording);
    } catch (error) {
      throw toTransientIfBusy(error);
    }
    // The COMMIT has returned: this is the time the batch's events became durable.
    const committedUs = nowMicros();
    this.unrecorded = this.unrecorded.filter((commit) => !recording.includes(commit));
    if (outcome.inserted > 0) this.unrecorded.push({ batch_started_us: batchStartedUs, committed_us: committedUs });
    return outcome;
  }

  async deadLetter(entries: readonly DeadLetter[]): Promise<void> {
    if (entries.length === 0) return;
    try {
      this.writeDeadLetters(entries);
    } catch (error) {
      throw toTransientIfBusy(error);
    }
  }

  /** Every row of the sink, in commit order (append mode: one row per write, duplicates included). */
  readRows(): SinkRow[] {
    return this.db.prepare<[], SinkRow>(SELECT_ROWS).all();
  }

  readDeadLetters(): DeadLetter[] {
    return this.db.prepare<[], DeadLetter>(SELECT_DEAD_LETTERS).all();
  }

  /**
   * Records the commit times still pending, then closes. If that write fails, the batches read back
   * with their start times, flagged commit_unrecorded (the ledger counts them): closing goes on.
   */
  async close(): Promise<void> {
    if (!this.db.open) return;
    if (this.unrecorded.length > 0) {
      try {
        this.recordCommits(this.unrecorded);
        this.unrecorded = [];
      } catch {
        // Counted by the reader, see above.
      }
    }
    this.db.close();
  }

  private createSchema(): void {
    this.db.transaction(() => {
      this.db.exec(CREATE_META);
      const meta = this.db.prepare<[string], { value: string }>('SELECT value FROM sink_meta WHERE key = ?');
      const existingMode = meta.get('mode')?.value;
      if (existingMode !== undefined && existingMode !== this.mode) {
        throw new Error(`sink database was created in '${existingMode}' mode, cannot open it in '${this.mode}' mode`);
      }
      this.db.exec(CREATE_EVENTS[this.mode]);
      this.db.exec(CREATE_DLQ);
      this.db.exec(CREATE_COMMITS);
      const upsertMeta = this.db.prepare(
        'INSERT INTO sink_meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO NOTHING',
      );
      upsertMeta.run('mode', this.mode);
      upsertMeta.run('schema_version', SCHEMA_VERSION);
    }).immediate();
  }
}

/** A batch's key and the time its COMMIT returned (µs). */
interface BatchCommit {
  batch_started_us: number;
  committed_us: number;
}

/** An event's row as the sink writes it, in INSERT_COLUMNS order (batch_started_us, the last column, is the batch's). */
export type SinkRowValues = [event_id: string, source: string, seq: number, topic: string, ts: string, payload: string, intended_us: number | null];

export function sinkRowValues(event: Event): SinkRowValues {
  return [
    event.event_id,
    event.source,
    event.seq,
    event.topic,
    event.ts,
    // undefined has no JSON text: stored as null rather than failing the batch.
    payloadJson(event),
    event.bench?.intended_us ?? null,
  ];
}

function withReadOnly<T>(path: string, read: (db: Database.Database) => T): T {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return read(db);
  } finally {
    db.close();
  }
}

/** All sink rows of a sink file, opened read-only (the harness ledger's final read). */
export function readSinkRows(path: string): SinkRow[] {
  return withReadOnly(path, (db) => db.prepare<[], SinkRow>(SELECT_ROWS).all());
}

/**
 * The sink rows of a sink file one at a time, in commit order, opened read-only: the harness
 * ledger's final read of an hour-long run without holding millions of row objects at once.
 */
export function* iterateSinkRows(path: string): Generator<SinkRow> {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    yield* db.prepare<[], SinkRow>(SELECT_ROWS).iterate();
  } finally {
    db.close();
  }
}

/** All dead letters of a sink file, oldest first, opened read-only. */
export function readDeadLetters(path: string): DeadLetter[] {
  return withReadOnly(path, (db) => db.prepare<[], DeadLetter>(SELECT_DEAD_LETTERS).all());
}

/** Distinct events in the sink plus dead letters: what has been made durable, whoever acked it. */
export function countDurable(path: string): number {
  return withReadOnly(
    path,
    (db) =>
      db.prepare<[], { n: number }>('SELECT (SELECT count(DISTINCT event_id) FROM events) + (SELECT count(*) FROM dlq) AS n').get()?.n ?? 0,
  );
}

/** Number of rows in the events table (append mode: duplicates included). */
export function countRows(path: string): number {
  return withReadOnly(
    path,
    (db) => db.prepare<[], { rows: number }>('SELECT count(*) AS rows FROM events').get()?.rows ?? 0,
  );
}
