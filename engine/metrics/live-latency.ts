// The progress line's "current p99": end-to-end latency of the rows committed since the previous
// look, read from the sink itself (the SQLite file read-only, WAL letting it read beside the
// writer; or the PostgreSQL sink's table), so even the live figure does not come from the system
// under test's own counters. Not used for results: the ledger's final read is the only source of
// those. It ends at the start of each batch's transaction (batch_started_us): the newest batches'
// COMMIT return times are written only with the next transaction, so a live look could not join
// them; the live p99 is short of the final one by the commit itself.

import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import pg from 'pg';
import { LatencyRecorder } from './histogram.ts';

export interface LiveLatencySample {
  count: number;
  p50_ms: number;
  p99_ms: number;
}

/** One reader per run; sample() once a second from the progress tick (synchronous: it must not hold the tick). */
export interface LiveLatency {
  /** Latency of recently committed rows; undefined before the sink exists. */
  sample(): LiveLatencySample | undefined;
  close(): Promise<void>;
}

export class LiveSinkLatency implements LiveLatency {
  private db: Database.Database | undefined;
  private statement: Database.Statement<[number], { rowid: number; latency_us: number }> | undefined;
  private lastRowid = 0;
  private readonly recorder = new LatencyRecorder();

  constructor(private readonly path: string) {}

  /** Latency of the rows committed since the last call; undefined before the sink exists. */
  sample(): LiveLatencySample | undefined {
    if (!this.db) {
      if (!existsSync(this.path)) return undefined;
      try {
        this.db = new Database(this.path, { readonly: true, fileMustExist: true });
        this.statement = this.db.prepare(
          'SELECT rowid, batch_started_us - intended_us AS latency_us FROM events WHERE rowid > ? AND intended_us IS NOT NULL ORDER BY rowid',
        );
      } catch {
        // The aggregator has not created its tables yet: try again next time.
        this.db?.close();
        this.db = undefined;
        return undefined;
      }
    }
    this.recorder.reset();
    for (const row of this.statement!.iterate(this.lastRowid)) {
      this.lastRowid = row.rowid;
      this.recorder.record(row.latency_us);
    }
    return { count: this.recorder.count, p50_ms: this.recorder.valueAtPercentile(50) / 1000, p99_ms: this.recorder.valueAtPercentile(99) / 1000 };
  }

  async close(): Promise<void> {
    this.db?.close();
    this.db = undefined;
  }
}

/**
 * The same figure from a PostgreSQL sink. A query cannot answer synchronously, so sample() returns
 * what the previous look found (the rows committed in the second before it) and starts the next
 * look: the line is one tick behind, never blocked. The percentile is computed by the server, so one
 * row crosses the wire however fast the run. Rows are taken by rowid, which the sink assigns in
 * commit order as long as batches commit one at a time (they do); a row whose transaction commits
 * after a higher rowid was read is left out of this figure only.
 */
export class LivePostgresLatency implements LiveLatency {
  private client: pg.Client | undefined;
  private looking: Promise<void> | undefined;
  private latest: LiveLatencySample | undefined;
  private lastRowid = '0';
  private closed = false;

  constructor(private readonly location: { url: string; schema: string }) {}

  sample(): LiveLatencySample | undefined {
    if (!this.closed && !this.looking) {
      this.looking = this.look()
        .catch(() => this.disconnect()) // not there yet (no table) or the server went away: look again next time
        .finally(() => (this.looking = undefined));
    }
    return this.latest;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.looking;
    await this.disconnect();
  }

  private async look(): Promise<void> {
    if (!this.client) {
      const client = new pg.Client({ connectionString: this.location.url, application_name: 'chaosbench-live-latency', connectionTimeoutMillis: 2_000 });
      client.on('error', () => {});
      try {
        await client.connect();
      } catch (error) {
        await client.end().catch(() => {});
        throw error;
      }
      this.client = client;
    }
    const { rows } = await this.client.query<{ count: number; last: string | null; p50_us: number | null; p99_us: number | null }>(
      `SELECT count(*)::int AS count, max(rowid)::text AS last,
              percentile_disc(0.5) WITHIN GROUP (ORDER BY batch_started_us - intended_us)::float8 AS p50_us,
              percentile_disc(0.99) WITHIN GROUP (ORDER BY batch_started_us - intended_us)::float8 AS p99_us
       FROM "${this.location.schema}".events WHERE rowid > $1 AND intended_us IS NOT NULL`,
      [this.lastRowid],
    );
    const row = rows[0];
    if (row?.last) this.lastRowid = row.last;
    this.latest = { count: row?.count ?? 0, p50_ms: (row?.p50_us ?? 0) / 1000, p99_ms: (row?.p99_us ?? 0) / 1000 };
  }

  private async disconnect(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => {});
  }
}
