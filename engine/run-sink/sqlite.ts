// The run's SQLite sink: the file <out>/sink.db, read back read-only (WAL lets the harness read
// beside the writer) and kept after the run for inspection.

import { rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { countDurable, iterateSinkRows, readDeadLetters } from '../../aggregator/sink/sqlite.ts';
import type { DeadLetter, SinkRow } from '../../aggregator/sink/index.ts';
import { LiveSinkLatency, type LiveLatency } from '../metrics/live-latency.ts';
import type { SinkDescription } from '../result.ts';
import type { RunSink } from './interface.ts';

export class SqliteRunSink implements RunSink {
  readonly kind = 'sqlite' as const;
  readonly path: string;
  readonly aggregator: { sink: string };
  readonly description: SinkDescription;

  /** Removes a sink.db an earlier run left in outDir (--out reused): its rows would count as this run's "unexpected". */
  constructor(outDir: string) {
    this.path = resolve(outDir, 'sink.db');
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${this.path}${suffix}`, { force: true });
    this.aggregator = { sink: `sqlite:${this.path}` };
    this.description = { kind: 'sqlite', url: `sqlite:${this.path}` };
  }

  rows(): Iterable<SinkRow> {
    return iterateSinkRows(this.path);
  }

  async deadLetters(): Promise<DeadLetter[]> {
    return readDeadLetters(this.path);
  }

  async countDurable(): Promise<number> {
    return countDurable(this.path);
  }

  liveLatency(): LiveLatency {
    return new LiveSinkLatency(this.path);
  }

  async remove(): Promise<undefined> {
    return undefined;
  }
}
