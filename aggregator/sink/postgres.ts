// PostgreSQL sink: the same contract as the SQLite sink (aggregator/sink/sqlite.ts) on a pg Pool, in
// tables `<schema>.events` and `<schema>.dlq` (plus `<schema>.sink_meta`, which remembers the mode),
// with read helpers for reading the sink back after a run.
// It never acknowledges a write that is not durable: commit() resolves only after COMMIT has
// returned (synchronous_commit as the server has it; the default `on` waits for the WAL flush), and
// each batch is one multi-row INSERT inside a transaction, so it is written whole or not at all.
//
// Idempotent mode: `event_id` is UNIQUE and a repeated id is absorbed by
// `ON CONFLICT (event_id) DO UPDATE SET deliveries = events.deliveries + EXCLUDED.deliveries`: the
// row keeps its first batch (and so its first commit time) and counts every delivery that reached
// the sink. One INSERT may not touch a row twice, so a batch is first folded to its distinct ids
// (in first-occurrence order) with the number of times each occurs; a returned row whose
// deliveries equals that number was inserted by this statement, any other was already there.
// Append mode has no unique key: every write is a row.
//
// Commit order is `rowid` (bigserial), assigned in the batch's order.
//
// Commit time, as in the SQLite sink: each batch's rows carry batch_started_us (taken before its
// BEGIN, strictly increasing), and the time its COMMIT returned goes into `<schema>.commits` with the
// next transaction (a separate COMMIT would cost a second WAL flush per batch) or at close(). The
// readers join the two; a batch without a record reads back with its start time, flagged
// commit_unrecorded.
//
// Errors: a lost or refused connection, and the transient SQLSTATEs (deadlock, serialization
// failure, too many connections, ...), become TransientError, which the pipeline retries. A lost
// reply to COMMIT is ambiguous: the retry then finds the rows already present (idempotent mode
// absorbs it; append mode, by design, writes them again).
//
// Transactional claims: a PostgresDedupStore on the same database (PostgresDedupStore.claimerFor)
// runs its claim on this sink's transaction connection, before the INSERT, so claim and commit
// commit or roll back together ('transactional' order); only events whose claim is 'new' are
// written. A store on another database gets no claimer and the pipeline claims commit-first.
//
// Why ~500 lines: this header (~40), the PostgresSink class (~300: schema creation, the two write
// modes with their transactional claims, dead letters, the commit-time record) and the readers
// used after a run (~70), which select with the class's own column lists (ROW_COLUMNS, ROWS_FROM)
// so that what is written and what is read back cannot drift apart. sqlite.ts has the same shape.

import pg from 'pg';
import { nowMicros, sleep } from '../clock.ts';
import { isConnectionError, resolveSchema, resolveUrl, toTransientIfPostgresUnavailable } from '../postgres.ts';
import type { ClaimResult } from '../dedup/claim.ts';
import type { Event } from '../event/types.ts';
import { payloadJson } from '../event/parse.ts';
import { SinkSlowdown } from './slowdown.ts';
import type { CommitOutcome, DeadLetter, Sink, SinkMode, SinkRow, SinkTransaction, TransactionalClaim } from './index.ts';
import { TransientError } from './index.ts';

/** Where a Postgres sink lives: the server and the schema of its tables. */
export interface PostgresSinkLocation {
  /** postgres://user[:password]@host:port/database. Default DATABASE_URL or postgres://postgres@127.0.0.1:5432/test. */
  url?: string;
  /** Schema of the sink's tables, created if missing. Default 'chaosbench'. */
  schema?: string;
}

export interface PostgresSinkOptions extends PostgresSinkLocation {
  mode: SinkMode;
  /** Artificial delay awaited before every batch write: the slow-sink knob. Default 0. */
  delayMs?: number;
  /** What decides the delay at run time (jitter, stalls); built from delayMs when absent. */
  slowdown?: SinkSlowdown;
  /** application_name of the pool's connections (shows in pg_stat_activity). Default 'chaosbench-sink'. */
  applicationName?: string;
  /** Most connections at once. Default 4 (batches commit one at a time). */
  maxConnections?: number;
  /** Longest wait for a connection before a commit fails (transiently). Default 5000. */
  connectTimeoutMs?: number;
  /** Told of errors on idle connections (the pool drops them and opens new ones). */
  onError?: (error: Error) => void;
  /** Calibration hook: awaited inside every batch's transaction, after its rows are written and before COMMIT (a slow COMMIT). Default 0. */
  holdMs?: number;
}

/** A batch's key and the time its COMMIT returned (µs). */
interface BatchCommit {
  batch_started_us: number;
  committed_us: number;
}

const SCHEMA_VERSION = '2';
/** Rows per page when reading the sink back in commit order. */
const READ_PAGE_ROWS = 10_000;

// bigint columns come back as text from pg; float8 is exact for integers below 2^53 (µs timestamps
// are ~2^51), so the readers cast and get numbers.
// The rows joined with their batch's commit time (see the header); `e` is events, `c` commits.
const ROW_COLUMNS =
  'e.event_id, e.source, e.seq::float8 AS seq, COALESCE(c.committed_us, e.batch_started_us)::float8 AS committed_us, (c.committed_us IS NULL)::int AS commit_unrecorded, e.intended_us::float8 AS intended_us, e.deliveries';
const ROWS_FROM = (schema: string) => `"${schema}".events e LEFT JOIN "${schema}".commits c ON c.batch_started_us = e.batch_started_us`;
const DEAD_LETTER_COLUMNS = 'raw, topic, reason, event_id, at_us::float8 AS at_us';


/** Postgres text cannot hold U+0000; a dead letter must never fail on it (it would be redelivered forever). */
function withoutNul(text: string): string {
  return text.includes('\u0000') ? text.replaceAll('\u0000', '\uFFFD') : text;
}

export class PostgresSink implements Sink {
  readonly kind = 'postgres' as const;
  readonly mode: SinkMode;
  readonly schema: string;
  readonly slowdown: SinkSlowdown;
  readonly pool: pg.Pool;
  /** The resolved connection URL (a dedup store on the same database can join commits). */
  readonly url: string;
  private readonly events: string;
  private readonly dlq: string;
  private readonly meta: string;
  private readonly commits: string;
  private readonly holdMs: number;
  private ready: Promise<void> | undefined;
  private closed = false;
  /** Batches whose COMMIT has returned and whose return time is not yet in `commits`. */
  private unrecorded: BatchCommit[] = [];
  private lastBatchStartedUs = 0;

  constructor(options: PostgresSinkOptions) {
    const delayMs = options.delayMs ?? 0;
    if (!Number.isFinite(delayMs) || delayMs < 0) {
      throw new RangeError(`delayMs must be a finite number >= 0, got ${delayMs}`);
    }
    this.mode = options.mode;
    this.schema = resolveSchema(options.schema);
    this.slowdown = options.slowdown ?? new SinkSlowdown(delayMs, 0);
    this.events = `"${this.schema}".events`;
    this.dlq = `"${this.schema}".dlq`;
    this.meta = `"${this.schema}".sink_meta`;
    this.commits = `"${this.schema}".commits`;
    this.holdMs = options.holdMs ?? 0;
    this.url = resolveUrl(options.url);
    this.pool = new pg.Pool({
      connectionString: this.url,
      application_name: options.applicationName ?? 'chaosbench-sink',
      max: options.maxConnections ?? 4,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
    });
    const onError = options.onError ?? (() => {});
    // An idle connection that dies is reported here and dropped; unhandled, it would crash the process.
    this.pool.on('error', (error) => onError(error));
  }

  /**
   * Creates the schema and tables if missing and checks the mode; runs once (again after a failure).
   * Called by the first commit anyway; call it at start-up to report an unreachable server early.
   */
  async open(): Promise<void> {
    this.assertOpen();
    this.ready ??= this.createSchema().catch((error: unknown) => {
      this.ready = undefined;
      throw toTransientIfPostgresUnavailable(error);
    });
    return this.ready;
  }

  /**
   * Idempotent mode: `inserted` counts new rows, `already_present` the deliveries absorbed by the
   * key. Append mode absorbs nothing: every event counts as inserted, already_present is 0.
   * With `claim`, the claim runs first in the same transaction and only 'new' events are written.
   */
  async commit(
    events: readonly Event[],
    claim?: { run: TransactionalClaim; ttlMs: number },
  ): Promise<CommitOutcome & { claims?: ClaimResult[] }> {
    this.assertOpen();
    const delay = this.slowdown.nextDelayMs();
    if (delay > 0) await sleep(delay);
    if (this.slowdown.nextFails()) throw new TransientError('injected transient sink error (slow-sink error_rate)');
    if (events.length === 0) {
      return claim ? { inserted: 0, already_present: 0, claims: [] } : { inserted: 0, already_present: 0 };
    }
    await this.open();
    const batchStartedUs = Math.max(nowMicros(), this.lastBatchStartedUs + 1);
    this.lastBatchStartedUs = batchStartedUs;
    const recording = this.unrecorded;
    const outcome = await this.inTransaction(async (client) => {
      if (recording.length > 0) await this.insertCommits(client, recording);
      let claims: ClaimResult[] | undefined;
      let toWrite = events;
      if (claim) {
        claims = await claim.run(
          events.map((event) => event.event_id),
          claim.ttlMs,
          lend(client),
        );
        if (claims.length !== events.length) {
          throw new Error(`claim returned ${claims.length} results for ${events.length} events`);
        }
        const answered = claims;
        toWrite = events.filter((_, index) => answered[index] === 'new');
      }
      const written: CommitOutcome & { claims?: ClaimResult[] } =
        toWrite.length === 0
          ? { inserted: 0, already_present: 0 }
          : this.mode === 'idempotent'
            ? await this.writeIdempotent(client, toWrite, batchStartedUs)
            : await this.writeAppend(client, toWrite, batchStartedUs);
      if (claims) written.claims = claims;
      if (this.holdMs > 0) await sleep(this.holdMs);
      return written;
    });
    // The COMMIT has returned: this is the time the batch's events became durable.
    const committedUs = nowMicros();
    this.unrecorded = this.unrecorded.filter((commit) => !recording.includes(commit));
    if (outcome.inserted > 0) this.unrecorded.push({ batch_started_us: batchStartedUs, committed_us: committedUs });
    return outcome;
  }

  async deadLetter(entries: readonly DeadLetter[]): Promise<void> {
    this.assertOpen();
    if (entries.length === 0) return;
    await this.open();
    await this.inTransaction((client) =>
      client.query(
        `INSERT INTO ${this.dlq} (raw, topic, reason, event_id, at_us)
         SELECT raw, topic, reason, event_id, at_us
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[]) WITH ORDINALITY
           AS batch(raw, topic, reason, event_id, at_us, position)
         ORDER BY position`,
        [
          entries.map((entry) => withoutNul(entry.raw)),
          entries.map((entry) => withoutNul(entry.topic)),
          entries.map((entry) => withoutNul(entry.reason)),
          entries.map((entry) => (entry.event_id === null ? null : withoutNul(entry.event_id))),
          entries.map((entry) => Math.trunc(entry.at_us)),
        ],
      ),
    );
  }

  /** Every row of the sink, in commit order (append mode: one row per write, duplicates included). */
  async readRows(): Promise<SinkRow[]> {
    this.assertOpen();
    await this.open();
    const { rows } = await this.pool.query<SinkRow>(`SELECT ${ROW_COLUMNS} FROM ${ROWS_FROM(this.schema)} ORDER BY e.rowid`);
    return rows;
  }

  async readDeadLetters(): Promise<DeadLetter[]> {
    this.assertOpen();
    await this.open();
    const { rows } = await this.pool.query<DeadLetter>(`SELECT ${DEAD_LETTER_COLUMNS} FROM ${this.dlq} ORDER BY id`);
    return rows;
  }

  /**
   * Records the commit times still pending, then closes. If that write fails, the batches read back
   * with their start times, flagged commit_unrecorded (the ledger counts them): closing goes on.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.unrecorded.length > 0) {
      const recording = this.unrecorded;
      await this.inTransaction((client) => this.insertCommits(client, recording)).then(
        () => (this.unrecorded = []),
        () => {},
      );
    }
    this.closed = true;
    // Let a schema creation in progress finish, so that its connection is released before the pool ends.
    await this.ready?.catch(() => {});
    await this.pool.end();
  }

  private async insertCommits(client: pg.PoolClient, commits: readonly BatchCommit[]): Promise<void> {
    await client.query(
      `INSERT INTO ${this.commits} (batch_started_us, committed_us) SELECT * FROM unnest($1::bigint[], $2::bigint[]) ON CONFLICT DO NOTHING`,
      [commits.map((c) => c.batch_started_us), commits.map((c) => c.committed_us)],
    );
  }

  private async writeIdempotent(client: pg.PoolClient, events: readonly Event[], batchStartedUs: number): Promise<CommitOutcome> {
    // Distinct ids in first-occurrence order, each with how often it occurs in the batch.
    const occurrences = new Map<string, { event: Event; count: number }>();
    for (const event of events) {
      const seen = occurrences.get(event.event_id);
      if (seen) seen.count += 1;
      else occurrences.set(event.event_id, { event, count: 1 });
    }
    const distinct = [...occurrences.values()];
    const { rows } = await client.query<{ event_id: string; deliveries: number }>(
      `INSERT INTO ${this.events} AS e (event_id, source, seq, topic, ts, payload, intended_us, batch_started_us, deliveries)
       SELECT event_id, source, seq, topic, ts, payload, intended_us, $8, deliveries
       FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::jsonb[], $7::bigint[], $9::int[])
         WITH ORDINALITY AS batch(event_id, source, seq, topic, ts, payload, intended_us, deliveries, position)
       ORDER BY position
       ON CONFLICT (event_id) DO UPDATE SET deliveries = e.deliveries + EXCLUDED.deliveries
       RETURNING event_id, deliveries`,
      [...columnArrays(distinct.map((d) => d.event)), batchStartedUs, distinct.map((d) => d.count)],
    );
    if (rows.length !== distinct.length) {
      throw new Error(`sink wrote ${rows.length} rows for ${distinct.length} distinct events`);
    }
    // A row whose deliveries equals its count in this batch was created by it; an existing row now
    // has at least one more.
    let created = 0;
    for (const row of rows) {
      if (row.deliveries === occurrences.get(row.event_id)?.count) created += 1;
    }
    return { inserted: created, already_present: events.length - created };
  }

  private async writeAppend(client: pg.PoolClient, events: readonly Event[], batchStartedUs: number): Promise<CommitOutcome> {
    const result = await client.query(
      `INSERT INTO ${this.events} (event_id, source, seq, topic, ts, payload, intended_us, batch_started_us, deliveries)
       SELECT event_id, source, seq, topic, ts, payload, intended_us, $8, 1
       FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::jsonb[], $7::bigint[])
         WITH ORDINALITY AS batch(event_id, source, seq, topic, ts, payload, intended_us, position)
       ORDER BY position`,
      [...columnArrays(events), batchStartedUs],
    );
    if (result.rowCount !== events.length) throw new Error(`sink wrote ${result.rowCount} rows for ${events.length} events`);
    return { inserted: events.length, already_present: 0 };
  }

  /** BEGIN, work, COMMIT on one pooled connection; ROLLBACK on failure; connection trouble → TransientError. */
  private async inTransaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw toTransientIfPostgresUnavailable(error);
    }
    // A connection that failed is destroyed instead of going back to the pool.
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      if (isConnectionError(error)) broken = error as Error;
      else {
        try {
          await client.query('ROLLBACK');
        } catch (rollbackError) {
          broken = rollbackError as Error;
        }
      }
      throw toTransientIfPostgresUnavailable(error);
    } finally {
      client.release(broken);
    }
  }

  private async createSchema(): Promise<void> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      // Serialises creation between processes: IF NOT EXISTS is not atomic in the catalogue.
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`chaosbench-sink:${this.schema}`]);
      await client.query(`CREATE SCHEMA IF NOT EXISTS "${this.schema}"`);
      await client.query(`CREATE TABLE IF NOT EXISTS ${this.meta} (key text PRIMARY KEY, value text NOT NULL)`);
      const { rows } = await client.query<{ value: string }>(`SELECT value FROM ${this.meta} WHERE key = 'mode'`);
      const existingMode = rows[0]?.value;
      if (existingMode !== undefined && existingMode !== this.mode) {
        throw new Error(`sink schema '${this.schema}' was created in '${existingMode}' mode, cannot open it in '${this.mode}' mode`);
      }
      // Same columns in both modes so that one reader serves both; only the key differs.
      const unique = this.mode === 'idempotent' ? ',\n           UNIQUE (event_id)' : '';
      await client.query(
        `CREATE TABLE IF NOT EXISTS ${this.events} (
           rowid bigserial PRIMARY KEY,
           event_id text NOT NULL,
           source text NOT NULL,
           seq bigint NOT NULL,
           topic text NOT NULL,
           ts text NOT NULL,
           payload jsonb NOT NULL,
           intended_us bigint,
           batch_started_us bigint NOT NULL,
           deliveries int NOT NULL DEFAULT 1${unique}
         )`,
      );
      await client.query(
        `CREATE TABLE IF NOT EXISTS ${this.dlq} (
           id bigserial PRIMARY KEY,
           raw text NOT NULL,
           topic text NOT NULL,
           reason text NOT NULL,
           event_id text,
           at_us bigint NOT NULL
         )`,
      );
      await client.query(`CREATE TABLE IF NOT EXISTS ${this.commits} (batch_started_us bigint PRIMARY KEY, committed_us bigint NOT NULL)`);
      await client.query(
        `INSERT INTO ${this.meta} (key, value) VALUES ('mode', $1), ('schema_version', $2) ON CONFLICT (key) DO NOTHING`,
        [this.mode, SCHEMA_VERSION],
      );
      await client.query('COMMIT');
    } catch (error) {
      if (isConnectionError(error)) broken = error as Error;
      else await client.query('ROLLBACK').catch((rollbackError: unknown) => (broken = rollbackError as Error));
      throw error;
    } finally {
      client.release(broken);
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('PostgresSink is closed');
  }
}

/** The transaction's connection as lent to a claim: queries only (no release, no BEGIN/COMMIT of its own). */
function lend(client: pg.PoolClient): SinkTransaction {
  return {
    query: async <Row extends Record<string, unknown>>(text: string, values?: unknown[]) => {
      const result = await client.query<Row>(text, values);
      return { rows: result.rows, rowCount: result.rowCount };
    },
  };
}

/** The batch as one array per column, for unnest (payload as JSON text, cast to jsonb by the server). */
function columnArrays(events: readonly Event[]): unknown[][] {
  return [
    events.map((event) => event.event_id),
    events.map((event) => event.source),
    events.map((event) => event.seq),
    events.map((event) => event.topic),
    events.map((event) => event.ts),
    // undefined has no JSON text: stored as null (payloadJson) rather than failing the batch.
    events.map(payloadJson),
    events.map((event) => event.bench?.intended_us ?? null),
  ];
}

// Read side: what the harness reads back from a Postgres sink during and after a run (through
// engine/run-sink/postgres.ts). Each helper opens one connection of its own and closes it.

async function withClient<T>(location: PostgresSinkLocation, read: (client: pg.Client, schema: string) => Promise<T>): Promise<T> {
  const schema = resolveSchema(location.schema);
  const client = new pg.Client({ connectionString: resolveUrl(location.url), application_name: 'chaosbench-sink-reader' });
  // An error on the idle connection would otherwise be thrown as an unhandled 'error' event.
  client.on('error', () => {});
  await client.connect();
  try {
    return await read(client, schema);
  } finally {
    await client.end();
  }
}

/**
 * The sink rows one at a time, in commit order (rowid), read a page at a time by key (no long
 * transaction or cursor held across the caller's work).
 */
export async function* iteratePostgresSinkRows(location: PostgresSinkLocation = {}): AsyncGenerator<SinkRow> {
  const schema = resolveSchema(location.schema);
  const client = new pg.Client({ connectionString: resolveUrl(location.url), application_name: 'chaosbench-sink-reader' });
  client.on('error', () => {});
  await client.connect();
  try {
    let after = '0';
    for (;;) {
      const { rows } = await client.query<SinkRow & { rowid: string }>(
        `SELECT e.rowid, ${ROW_COLUMNS} FROM ${ROWS_FROM(schema)} WHERE e.rowid > $1 ORDER BY e.rowid LIMIT ${READ_PAGE_ROWS}`,
        [after],
      );
      for (const { rowid, ...row } of rows) {
        after = rowid;
        yield row;
      }
      if (rows.length < READ_PAGE_ROWS) return;
    }
  } finally {
    await client.end();
  }
}

/** All sink rows, in commit order. */
export async function readPostgresSinkRows(location: PostgresSinkLocation = {}): Promise<SinkRow[]> {
  const rows: SinkRow[] = [];
  for await (const row of iteratePostgresSinkRows(location)) rows.push(row);
  return rows;
}

/** All dead letters, oldest first. */
export async function readPostgresDeadLetters(location: PostgresSinkLocation = {}): Promise<DeadLetter[]> {
  return withClient(location, async (client, schema) => {
    const { rows } = await client.query<DeadLetter>(`SELECT ${DEAD_LETTER_COLUMNS} FROM "${schema}".dlq ORDER BY id`);
    return rows;
  });
}

/** Distinct events in the sink plus dead letters: what has been made durable, whoever acked it. */
export async function countPostgresDurable(location: PostgresSinkLocation = {}): Promise<number> {
  return withClient(location, async (client, schema) => {
    const { rows } = await client.query<{ n: number }>(
      `SELECT ((SELECT count(DISTINCT event_id) FROM "${schema}".events) + (SELECT count(*) FROM "${schema}".dlq))::float8 AS n`,
    );
    return rows[0]?.n ?? 0;
  });
}

/** Number of rows in the events table (append mode: duplicates included). */
export async function countPostgresRows(location: PostgresSinkLocation = {}): Promise<number> {
  return withClient(location, async (client, schema) => {
    const { rows } = await client.query<{ rows: number }>(`SELECT count(*)::float8 AS rows FROM "${schema}".events`);
    return rows[0]?.rows ?? 0;
  });
}
