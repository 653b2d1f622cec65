// Part (b) of theory table 3: how fast the aggregator's own sinks take rows keyed by each id
// scheme. The same readings, with each scheme's ids, are committed in the aggregator's batch size
// to a fresh sink (SQLite file; optionally a PostgreSQL schema of its own), repetitions interleaved
// across schemes. Besides time it records what the key's B-tree looks like afterwards and, for
// SQLite, how many bytes the process wrote, because that is where random keys cost.
// It must never leave a database behind: each sample's file or schema is removed after it is read.

import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { SqliteSink } from '../../aggregator/sink/sqlite.ts';
import { PostgresSink } from '../../aggregator/sink/postgres.ts';
import type { Event } from '../../aggregator/event/types.ts';
import { ConsumerIds, eventOf, generateReadings, ID_SCHEMES, ProducerIds, type IdScheme, type Reading } from './event-ids-schemes.ts';

export type ThroughputBackend = 'sqlite' | 'postgres';

export interface ThroughputOptions {
  seed: number;
  rows: number;
  batch_size: number;
  repetitions: number;
  /** Directory for the SQLite files. */
  dir: string;
  /** PostgreSQL, when reachable: its URL and the rows per sample there (fewer: every commit waits for the WAL flush). */
  postgres?: { url: string; rows: number };
  log?: (line: string) => void;
  /** Aborted on SIGINT/SIGTERM: no further sample starts (each one's schema is dropped as it ends). */
  signal?: AbortSignal;
}

export interface ThroughputSample {
  backend: ThroughputBackend;
  scheme: IdScheme;
  repetition: number;
  rows: number;
  seconds: number;
  rows_per_s: number;
  /** SQLite only: bytes the process wrote (WAL and checkpoint) per row, from /proc/self/io; null where not available. */
  bytes_written_per_row: number | null;
  /** Pages of the B-tree on event_id after the inserts. */
  key_index_pages: number;
  /** SQLite only: how full those pages are (1 = no free space); null for PostgreSQL. */
  key_index_fill: number | null;
  /** Bytes of the key's B-tree (pages × page size). */
  key_index_bytes: number;
  /** SQLite only: the connection's page cache in bytes (PRAGMA cache_size); null for PostgreSQL. */
  cache_bytes: number | null;
  /** Page size of the database (SQLite page_size, PostgreSQL block size). */
  page_bytes: number;
}

/** Sources the rows come from (their readings are interleaved, as they arrive at one consumer). */
export const THROUGHPUT_SOURCES = 4;
/** PostgreSQL's page size as built by default (block_size). */
const POSTGRES_BLOCK_BYTES = 8192;
/** Untimed rows each backend takes before the first sample (connection, statement and file-system warm-up). */
const WARMUP_ROWS = 2_000;
/** Rows per second arriving at the consumer, for the times of consumer-assigned ULIDs. */
export const ARRIVAL_ROWS_PER_S = 10_000;

/**
 * The same `rows` readings with each scheme's ids, in arrival order (the sources' readings
 * interleaved). No two readings share a natural key here: every row is a distinct insert.
 */
export function eventsByScheme(seed: number, rows: number, schemes: readonly IdScheme[] = ID_SCHEMES): Map<IdScheme, Event[]> {
  const bySource = generateReadings({
    seed,
    sources: THROUGHPUT_SOURCES,
    events_per_source: Math.ceil(rows / THROUGHPUT_SOURCES),
    sensors_per_source: 4,
    same_key_probability: 0,
    topic_prefix: 'events/theory-event-ids',
  });
  const arrival: Reading[] = [];
  for (let i = 0; arrival.length < rows; i++) {
    for (const readings of bySource) if (arrival.length < rows && i < readings.length) arrival.push(readings[i]!);
  }
  const result = new Map<IdScheme, Event[]>();
  for (const scheme of schemes) {
    const producer = new ProducerIds(scheme, seed);
    const consumer = new ConsumerIds(seed);
    const startMs = Math.floor(arrival[0]!.ts_us / 1000);
    const events = arrival.map((reading, i) => {
      const id = producer.idFor(reading) ?? consumer.idAt(startMs + Math.floor((i * 1000) / ARRIVAL_ROWS_PER_S));
      return eventOf(reading, id);
    });
    if (new Set(events.map((e) => e.event_id)).size !== events.length) {
      throw new Error(`event-ids throughput: scheme '${scheme}' minted a repeated id for distinct rows`);
    }
    result.set(scheme, events);
  }
  return result;
}

/** Bytes this process has passed to write(2) so far, or null off Linux. */
function bytesWritten(): number | null {
  try {
    const match = /^wchar:\s*(\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

async function sqliteSample(events: readonly Event[], path: string, batchSize: number): Promise<Omit<ThroughputSample, 'scheme' | 'repetition'>> {
  const sink = new SqliteSink({ path, mode: 'idempotent' });
  try {
    const before = bytesWritten();
    const started = performance.now();
    for (let i = 0; i < events.length; i += batchSize) await sink.commit(events.slice(i, i + batchSize));
    // Counted in: the checkpoint that moves the last of these pages from the WAL into the file.
    sink.db.pragma('wal_checkpoint(TRUNCATE)');
    const seconds = (performance.now() - started) / 1000;
    const after = bytesWritten();
    const index = sink.db
      .prepare<[], { pages: number; unused: number; size: number }>(
        "SELECT count(*) AS pages, sum(unused) AS unused, sum(pgsize) AS size FROM dbstat WHERE name = 'sqlite_autoindex_events_1'",
      )
      .get();
    const pageSize = sink.db.pragma('page_size', { simple: true }) as number;
    // Negative: KiB; positive: pages (https://sqlite.org/pragma.html#pragma_cache_size).
    const cacheSize = sink.db.pragma('cache_size', { simple: true }) as number;
    return {
      backend: 'sqlite',
      rows: events.length,
      seconds,
      rows_per_s: events.length / seconds,
      bytes_written_per_row: before === null || after === null ? null : (after - before) / events.length,
      key_index_pages: index?.pages ?? 0,
      key_index_fill: index && index.size > 0 ? 1 - index.unused / index.size : null,
      key_index_bytes: index?.size ?? 0,
      cache_bytes: cacheSize < 0 ? -cacheSize * 1024 : cacheSize * pageSize,
      page_bytes: pageSize,
    };
  } finally {
    await sink.close();
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true });
  }
}

async function postgresSample(
  events: readonly Event[],
  url: string,
  schema: string,
  batchSize: number,
): Promise<Omit<ThroughputSample, 'scheme' | 'repetition'>> {
  const sink = new PostgresSink({ url, schema, mode: 'idempotent', applicationName: 'chaosbench-theory-event-ids' });
  try {
    await sink.open();
    const started = performance.now();
    for (let i = 0; i < events.length; i += batchSize) await sink.commit(events.slice(i, i + batchSize));
    const seconds = (performance.now() - started) / 1000;
    const { rows } = await sink.pool.query<{ bytes: string }>(
      `SELECT pg_relation_size(i.indexrelid)::text AS bytes
         FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
        WHERE i.indrelid = $1::regclass AND i.indisunique AND a.attname = 'event_id'`,
      [`"${schema}".events`],
    );
    const bytes = rows[0] ? Number(rows[0].bytes) : 0;
    return {
      backend: 'postgres',
      rows: events.length,
      seconds,
      rows_per_s: events.length / seconds,
      bytes_written_per_row: null,
      key_index_pages: bytes / POSTGRES_BLOCK_BYTES,
      key_index_fill: null,
      key_index_bytes: bytes,
      cache_bytes: null,
      page_bytes: POSTGRES_BLOCK_BYTES,
    };
  } finally {
    await sink.close();
    await dropSchema(url, schema);
  }
}

async function dropSchema(url: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

/** True when a PostgreSQL server answers at `url` within 2 s. */
export async function postgresReachable(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Every sample, repetition by repetition; within a repetition each backend runs every scheme once,
 * in an order rotated by one each repetition, so that warm-up and drift do not favour one scheme.
 */
export async function measureThroughput(options: ThroughputOptions): Promise<ThroughputSample[]> {
  const log = options.log ?? (() => {});
  const maxRows = Math.max(options.rows, options.postgres?.rows ?? 0);
  const events = eventsByScheme(options.seed, maxRows);
  const samples: ThroughputSample[] = [];
  // Warm-up, discarded: otherwise whichever scheme runs first pays for the cold start.
  const warmup = events.get('ulid')!.slice(0, Math.min(WARMUP_ROWS, maxRows));
  await sqliteSample(warmup, join(options.dir, 'throughput-warmup.db'), options.batch_size);
  if (options.postgres) {
    await postgresSample(warmup, options.postgres.url, `theory_event_ids_${process.pid}_warmup`, options.batch_size);
  }
  for (let repetition = 0; repetition < options.repetitions; repetition++) {
    const order = ID_SCHEMES.map((_, i) => ID_SCHEMES[(i + repetition) % ID_SCHEMES.length]!);
    for (const scheme of order) {
      options.signal?.throwIfAborted();
      const path = join(options.dir, `throughput-${scheme}-${repetition}.db`);
      const sample = await sqliteSample(events.get(scheme)!.slice(0, options.rows), path, options.batch_size);
      samples.push({ ...sample, scheme, repetition });
      log(`  sqlite ${scheme} #${repetition + 1}: ${Math.round(sample.rows_per_s).toLocaleString('en-US')} rows/s`);
    }
    if (options.postgres) {
      const { url, rows } = options.postgres;
      for (const scheme of order) {
        options.signal?.throwIfAborted();
        const schema = `theory_event_ids_${process.pid}_${scheme.replace('-', '_')}_${repetition}`;
        const sample = await postgresSample(events.get(scheme)!.slice(0, rows), url, schema, options.batch_size);
        samples.push({ ...sample, scheme, repetition });
        log(`  postgres ${scheme} #${repetition + 1}: ${Math.round(sample.rows_per_s).toLocaleString('en-US')} rows/s`);
      }
    }
  }
  return samples;
}
