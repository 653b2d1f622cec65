// The run's sink read with the user's own query (scenario target.sink.kind 'query'): a consumer that
// does not adopt the reference schema says how to read what it committed, as SQL over the SQLite
// file or PostgreSQL schema the harness gave it, returning one row per committed write, in commit
// order, with the event id and (if it has one) a commit time. The ledger stays the harness's: rows
// are matched to the events the harness published by their event id (an index built from the
// publish log, one map entry per published event), and an id it never published is "unexpected".
// Without a commit time no latency is measured (the ledger is told so; latency checks then fail as
// not measured). Never used before the target has stopped for the final read; dead letters: none.

import Database from 'better-sqlite3';
import { existsSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import pg from 'pg';
import type { SinkRow } from '../../aggregator/sink/index.ts';
import { redactPassword } from '../../aggregator/redact.ts';
import type { CommitTimeUnit } from '../../scenarios/schema.ts';
import { dropRunSchema } from '../dedup-isolation.ts';
import type { LiveLatency } from '../metrics/live-latency.ts';
import type { SinkDescription } from '../result.ts';
import type { EventLocator, RunSink } from './interface.ts';

export interface QuerySpec {
  query: string;
  event_id_column?: string;
  commit_time_column?: string;
  commit_time_unit?: CommitTimeUnit;
}

/** Where the target writes: the run's SQLite file, or a PostgreSQL server and the run's schema. */
export type QueryPlace = { kind: 'sqlite'; out_dir: string } | { kind: 'postgres'; url: string; schema: string };

const MICROS: { [U in CommitTimeUnit]: number } = { us: 1, ms: 1_000, s: 1_000_000 };

export class QueryRunSink implements RunSink {
  readonly kind: 'sqlite' | 'postgres';
  readonly aggregator: { sink: string; sink_schema?: string };
  readonly description: SinkDescription;
  readonly measures_latency: boolean;
  private readonly path: string | undefined;
  private readonly eventIdColumn: string;
  /** The query as given, without a trailing semicolon (it is wrapped in a count for the drain). */
  private readonly sql: string;

  constructor(
    private readonly place: QueryPlace,
    private readonly spec: QuerySpec,
  ) {
    this.kind = place.kind;
    this.sql = spec.query.trim().replace(/;\s*$/, '');
    this.eventIdColumn = spec.event_id_column ?? 'event_id';
    this.measures_latency = spec.commit_time_column !== undefined;
    if (place.kind === 'sqlite') {
      this.path = resolve(place.out_dir, 'sink.db');
      for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(`${this.path}${suffix}`, { force: true });
      this.aggregator = { sink: `sqlite:${this.path}` };
      this.description = { kind: 'sqlite', url: `sqlite:${this.path}`, query: this.sql };
    } else {
      this.aggregator = { sink: place.url, sink_schema: place.schema };
      this.description = { kind: 'postgres', url: redactPassword(place.url), schema: place.schema, query: this.sql };
    }
  }

  /** Every row the query returns, as sink rows of the events the locator names (deliveries 1: each row is one write). */
  rows(locate?: EventLocator): AsyncIterable<SinkRow> {
    if (!locate) throw new Error('a query sink needs the publish log to tell which event a row is');
    const toRow = (record: Record<string, unknown>): SinkRow => {
      const id = record[this.eventIdColumn];
      if (!(this.eventIdColumn in record)) throw new Error(`the target's query returns no column '${this.eventIdColumn}' (target.sink.event_id_column); it returns ${Object.keys(record).join(', ') || 'no columns'}`);
      const eventId = typeof id === 'string' ? id : String(id);
      const event = locate(eventId);
      const committed = this.spec.commit_time_column === undefined ? Number.NaN : this.commitMicros(record);
      return {
        event_id: eventId,
        source: event?.source ?? '',
        seq: event?.seq ?? -1,
        committed_us: committed,
        intended_us: event?.intended_us ?? null,
        deliveries: 1,
      };
    };
    const rows = this.place.kind === 'sqlite' ? this.sqliteRows() : this.postgresRows();
    return (async function* () {
      for await (const record of rows) yield toRow(record);
    })();
  }

  async deadLetters(): Promise<[]> {
    return [];
  }

  /** Distinct event ids the query returns (a target has no dead-letter table the harness knows of). */
  async countDurable(): Promise<number> {
    const count = `SELECT count(DISTINCT q."${this.eventIdColumn.replace(/"/g, '""')}") AS n FROM (${this.sql}) AS q`;
    if (this.place.kind === 'sqlite') {
      if (!existsSync(this.path!)) return 0;
      const db = new Database(this.path!, { readonly: true, fileMustExist: true, timeout: 1_000 });
      try {
        return Number(db.prepare<[], { n: number }>(count).get()?.n ?? 0);
      } finally {
        db.close();
      }
    }
    return this.withPostgres(async (client) => Number((await client.query<{ n: string }>(count)).rows[0]?.n ?? 0));
  }

  /** No live figure: the query is the user's, and it may be costly to run every second. */
  liveLatency(): LiveLatency {
    return { sample: () => undefined, close: async () => {} };
  }

  async remove(): Promise<string | undefined> {
    if (this.place.kind === 'sqlite') return undefined;
    await dropRunSchema(this.place.url, this.place.schema);
    return `dropped sink schema ${this.place.schema}`;
  }

  private commitMicros(record: Record<string, unknown>): number {
    const column = this.spec.commit_time_column!;
    const value = record[column];
    const unit = this.spec.commit_time_unit ?? 'ms';
    const micros = commitTimeMicros(value, unit);
    if (micros === undefined) {
      throw new Error(`the target's query returned ${JSON.stringify(value)} in commit time column '${column}': it must be a number of ${unit} since the epoch (target.sink.commit_time_unit) or a timestamp`);
    }
    return micros;
  }

  private async *sqliteRows(): AsyncGenerator<Record<string, unknown>> {
    if (!existsSync(this.path!)) return; // it never wrote anything
    const db = new Database(this.path!, { readonly: true, fileMustExist: true, timeout: 5_000 });
    try {
      yield* db.prepare<[], Record<string, unknown>>(this.sql).iterate();
    } finally {
      db.close();
    }
  }

  /** Read in one result (memory in proportion to the rows): the user's query cannot be paged by the harness without knowing its order. */
  private async *postgresRows(): AsyncGenerator<Record<string, unknown>> {
    const rows = await this.withPostgres(async (client) => (await client.query<Record<string, unknown>>(this.sql)).rows);
    yield* rows;
  }

  private async withPostgres<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
    const place = this.place as Extract<QueryPlace, { kind: 'postgres' }>;
    const client = new pg.Client({ connectionString: place.url, connectionTimeoutMillis: 5_000, application_name: 'chaosbench-harness' });
    client.on('error', () => {});
    await client.connect();
    try {
      await client.query(`SET search_path TO "${place.schema}"`);
      return await work(client);
    } finally {
      await client.end();
    }
  }
}

/**
 * A commit time as µs since the epoch: a number (or numeric text, as PostgreSQL returns bigint) in
 * `unit`, a Date (PostgreSQL timestamptz), or timestamp text (SQLite's datetime(), UTC when it
 * names no zone). undefined when it is none of these.
 */
export function commitTimeMicros(value: unknown, unit: CommitTimeUnit): number | undefined {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value.getTime() * 1_000;
  if (typeof value === 'bigint') return Number(value) * MICROS[unit];
  if (typeof value === 'number') return Number.isFinite(value) ? value * MICROS[unit] : undefined;
  if (typeof value !== 'string') return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value) * MICROS[unit];
  const zoneless = /^\d{4}-\d\d-\d\d[ T]\d\d:\d\d(:\d\d(\.\d+)?)?$/.test(value);
  const ms = Date.parse(zoneless ? `${value.replace(' ', 'T')}Z` : value);
  if (Number.isNaN(ms)) return undefined;
  // Date.parse keeps milliseconds; SQLite and PostgreSQL text can carry microseconds.
  const fraction = /\.(\d{4,6})/.exec(value)?.[1];
  return fraction ? Math.floor(ms / 1000) * 1_000_000 + Number(fraction.padEnd(6, '0')) : ms * 1_000;
}

/** Creates the run's PostgreSQL schema before the target starts (it is told to write there). */
export async function createRunSchema(url: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000, application_name: 'chaosbench-harness' });
  client.on('error', () => {});
  await client.connect();
  try {
    await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
  } finally {
    await client.end();
  }
}
