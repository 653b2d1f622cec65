// The run's PostgreSQL sink: tables events, dlq and sink_meta in a schema of the run's own, read
// back with the sink's own readers (in commit order, a page at a time) and dropped after the final
// read, so that replicates (which publish the same seeded event ids) never see each other's rows
// and nothing piles up on the server.

import { dropRunSchema } from '../dedup-isolation.ts';
import {
  countPostgresDurable,
  iteratePostgresSinkRows,
  readPostgresDeadLetters,
  type PostgresSinkLocation,
} from '../../aggregator/sink/postgres.ts';
import { resolveSchema } from '../../aggregator/postgres.ts';
import { redactPassword } from '../../aggregator/redact.ts';
import type { DeadLetter, SinkRow } from '../../aggregator/sink/index.ts';
import { LivePostgresLatency, type LiveLatency } from '../metrics/live-latency.ts';
import type { SinkDescription } from '../result.ts';
import type { RunSink } from './interface.ts';

export class PostgresRunSink implements RunSink {
  readonly kind = 'postgres' as const;
  readonly aggregator: { sink: string; sink_schema: string };
  readonly description: SinkDescription;
  private readonly location: Required<PostgresSinkLocation>;

  constructor(location: { url: string; schema: string }) {
    this.location = { url: location.url, schema: resolveSchema(location.schema) };
    this.aggregator = { sink: location.url, sink_schema: this.location.schema };
    this.description = { kind: 'postgres', url: redactPassword(location.url), schema: this.location.schema };
  }

  rows(): AsyncIterable<SinkRow> {
    return iteratePostgresSinkRows(this.location);
  }

  deadLetters(): Promise<DeadLetter[]> {
    return readPostgresDeadLetters(this.location);
  }

  countDurable(): Promise<number> {
    return countPostgresDurable(this.location);
  }

  liveLatency(): LiveLatency {
    return new LivePostgresLatency(this.location);
  }

  async remove(): Promise<string> {
    await dropRunSchema(this.location.url, this.location.schema);
    return `dropped sink schema ${this.location.schema}`;
  }
}
