// Which failures of the commit path may dead-letter an event, and which must stall.
//
// A dead letter is acked: the broker forgets the message. So only a fault *of the event itself*
// (its size, its encoding, a value its column cannot hold) may send a valid event there: the same
// event will fail the same way for ever, and isolating it lets its batch-mates through. Any fault of
// the store or the infrastructure (disk full, read-only file, a missing grant, a dropped connection,
// a Redis out of memory) would fail every event alike, and dead-lettering them would ack the whole
// stream without storing it: silent loss that the aggregator's own counters call "dead-lettered".
// Such a fault is a stall instead: nothing is acked, the batch is retried with backoff until the
// fault clears, and the retries show in the run's timeline.
//
// The decision is taken only from the table below, by error code (SQLite result codes, PostgreSQL
// SQLSTATEs, Redis replies). Anything the table does not name, and any error without an engine's
// code (a plain Error, a TransientError, a bug), is an infrastructure fault: a stall is visible, a
// dead-lettered ack is not.

import Database from 'better-sqlite3';
import pg from 'pg';
import { ReplyError } from 'ioredis';
import { TransientError } from './sink/index.ts';

export type FailureClass = 'event' | 'infrastructure';

export interface Classified {
  class: FailureClass;
  /** The engine and code the decision was made on ('unknown' when none was found). */
  code: string;
  /** The table's reason for the class. */
  why: string;
}

type Rule = readonly [code: string, failureClass: FailureClass, why: string];

/**
 * SQLite result codes as better-sqlite3 reports them (extended codes: SQLITE_CONSTRAINT_CHECK,
 * SQLITE_IOERR_WRITE). Looked up by the full code, then by its primary code (SQLITE_IOERR).
 */
const SQLITE_RULES: readonly Rule[] = [
  ['SQLITE_TOOBIG', 'event', 'a string or blob of the event is larger than SQLite stores'],
  ['SQLITE_MISMATCH', 'event', 'a value of the event has a type its column refuses'],
  ['SQLITE_CONSTRAINT_CHECK', 'event', 'a value of the event fails a CHECK constraint'],
  ['SQLITE_CONSTRAINT_NOTNULL', 'event', 'the event lacks a value its column requires'],
  ['SQLITE_CONSTRAINT_DATATYPE', 'event', "a value of the event has the wrong type for a STRICT table's column"],
  // The sink absorbs repeats through its key (ON CONFLICT), so a key violation is the schema or
  // another writer disagreeing with the code, the same for every event: retry, never dead-letter.
  ['SQLITE_CONSTRAINT', 'infrastructure', 'a key or foreign-key constraint the code does not expect: the schema, not the event'],
  ['SQLITE_FULL', 'infrastructure', 'the disk (or max_page_count) is full'],
  ['SQLITE_READONLY', 'infrastructure', 'the database is read-only'],
  ['SQLITE_IOERR', 'infrastructure', 'an I/O error of the disk'],
  ['SQLITE_CANTOPEN', 'infrastructure', 'the database file cannot be opened'],
  ['SQLITE_PERM', 'infrastructure', 'access to the file is denied'],
  ['SQLITE_AUTH', 'infrastructure', 'the authorizer refused the statement'],
  ['SQLITE_CORRUPT', 'infrastructure', 'the database file is corrupt'],
  ['SQLITE_NOTADB', 'infrastructure', 'the file is not a database'],
  ['SQLITE_BUSY', 'infrastructure', 'another connection holds the lock'],
  ['SQLITE_LOCKED', 'infrastructure', 'a table is locked by this connection'],
  ['SQLITE_NOMEM', 'infrastructure', 'SQLite ran out of memory'],
  ['SQLITE_ERROR', 'infrastructure', 'an SQL error (missing table, bad statement): the schema, not the event'],
];

/**
 * PostgreSQL SQLSTATEs. Looked up by the full code, then by its class (the first two characters).
 * https://www.postgresql.org/docs/current/errcodes-appendix.html
 */
const POSTGRES_RULES: readonly Rule[] = [
  // Class 22, data exception: a value of the event its column cannot hold (22021 a NUL byte in
  // text, 22P05 \u0000 in jsonb, 22001 a string too long, 22003 a number out of range).
  ['22', 'event', 'a value of the event its column cannot hold (data exception)'],
  ['23502', 'event', 'the event lacks a value its column requires (not_null_violation)'],
  ['23514', 'event', 'a value of the event fails a CHECK constraint (check_violation)'],
  // 23505 unique_violation included: the sink absorbs repeats by ON CONFLICT on its key and the
  // claim does the same on the claims table, so a unique violation means a constraint the code
  // does not know about or a race in creating the catalogue, both the same for every event.
  ['23', 'infrastructure', 'an integrity constraint the code does not expect (unique, foreign key, exclusion): the schema, not the event'],
  ['54', 'event', 'the event exceeds a program limit (54000: a row or value too large)'],
  // Class 42 as a whole, not only 42501: the statement is the same for every event, so a missing
  // grant, table or column, or a statement the server refuses, fails them all alike.
  ['42501', 'infrastructure', 'the role lacks a privilege (insufficient_privilege)'],
  ['42P01', 'infrastructure', 'a table is missing (undefined_table)'],
  ['42', 'infrastructure', 'the statement or the schema is wrong (syntax error or access rule violation)'],
  ['08', 'infrastructure', 'the connection failed'],
  ['25', 'infrastructure', 'invalid transaction state (e.g. a read-only transaction)'],
  ['40', 'infrastructure', 'transaction rollback (serialization failure, deadlock)'],
  ['53', 'infrastructure', 'the server is out of resources (disk full, memory, connections)'],
  ['55', 'infrastructure', 'an object is not in the required state (lock not available)'],
  ['57', 'infrastructure', 'operator intervention (shutdown, cancel, cannot connect now)'],
  ['58', 'infrastructure', 'a system error outside PostgreSQL (I/O error)'],
  ['XX', 'infrastructure', 'an internal error of the server (data corrupted)'],
];

// Redis: every reply error is infrastructure (OOM, READONLY, NOPERM, LOADING, BUSY, WRONGTYPE when
// another program's key holds a claim's name, NOSCRIPT, ERR). A claim is an event id, which the
// parser has already checked to be a ULID: nothing in it can be refused by Redis.
const REDIS_WHY = 'every Redis error is the store, not the event (connection, OOM, READONLY, NOPERM, LOADING, WRONGTYPE, …)';

const SQLITE = new Map(SQLITE_RULES.map(([code, cls, why]) => [code, { cls, why }]));
const POSTGRES = new Map(POSTGRES_RULES.map(([code, cls, why]) => [code, { cls, why }]));

const UNKNOWN: Classified = {
  class: 'infrastructure',
  code: 'unknown',
  why: 'not an engine error the table names: a stall is visible, a dead-lettered ack is silent loss',
};

/** The class of a failure of a sink write, a claim or a dead-letter write (see the tables above). */
export function classifyFailure(error: unknown): Classified {
  // The first engine error in the cause chain decides (TransientError and RetriesExhaustedError wrap one).
  for (let at = error, depth = 0; at !== undefined && at !== null && depth < 8; at = (at as { cause?: unknown }).cause, depth++) {
    // Whatever it wraps, a store that said "try again" has spoken about itself.
    if (at instanceof TransientError) return { class: 'infrastructure', code: 'transient', why: 'the store asked for a retry (busy, unreachable)' };
    if (at instanceof Database.SqliteError) {
      const primary = /^SQLITE_[A-Z]+/.exec(at.code)?.[0] ?? at.code;
      const rule = SQLITE.get(at.code) ?? SQLITE.get(primary);
      return rule ? { class: rule.cls, code: `sqlite ${at.code}`, why: rule.why } : { ...UNKNOWN, code: `sqlite ${at.code}` };
    }
    if (at instanceof pg.DatabaseError && typeof at.code === 'string') {
      const rule = POSTGRES.get(at.code) ?? POSTGRES.get(at.code.slice(0, 2));
      return rule ? { class: rule.cls, code: `postgres ${at.code}`, why: rule.why } : { ...UNKNOWN, code: `postgres ${at.code}` };
    }
    if (at instanceof ReplyError) {
      return { class: 'infrastructure', code: `redis ${/^\S+/.exec((at as Error).message)?.[0] ?? 'reply'}`, why: REDIS_WHY };
    }
  }
  return UNKNOWN;
}

/** True only for a fault of the event itself: the one kind of failure that may dead-letter a valid event. */
export function isEventFault(error: unknown): boolean {
  return classifyFailure(error).class === 'event';
}
