// The progress line's "current p99": end-to-end latency of the rows committed since the previous
// look, read from the sink file itself (read-only, WAL lets it read beside the writer), so even the
// live figure does not come from the system under test's own counters. Not used for results: the
// ledger's final read is the only source of those.

import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { LatencyRecorder } from './histogram.ts';

export class LiveSinkLatency {
  private db: Database.Database | undefined;
  private statement: Database.Statement<[number], { rowid: number; latency_us: number }> | undefined;
  private lastRowid = 0;
  private readonly recorder = new LatencyRecorder();

  constructor(private readonly path: string) {}

  /** Latency of the rows committed since the last call; undefined before the sink exists. */
  sample(): { count: number; p99_ms: number } | undefined {
    if (!this.db) {
      if (!existsSync(this.path)) return undefined;
      try {
        this.db = new Database(this.path, { readonly: true, fileMustExist: true });
        this.statement = this.db.prepare(
          'SELECT rowid, committed_us - intended_us AS latency_us FROM events WHERE rowid > ? AND intended_us IS NOT NULL ORDER BY rowid',
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
    return { count: this.recorder.count, p99_ms: this.recorder.valueAtPercentile(99) / 1000 };
  }

  close(): void {
    this.db?.close();
    this.db = undefined;
  }
}
