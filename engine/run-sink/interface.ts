// What run.ts and the ledger need of the run's sink, whatever its kind (sqlite.ts, postgres.ts). Its
// own module so that the implementations name it without importing index.ts, which imports them to
// choose one (see index.ts for the rules every implementation keeps).

import type { DeadLetter, SinkKind, SinkRow } from '../../aggregator/sink/index.ts';
import type { LiveLatency } from '../metrics/live-latency.ts';
import type { SinkDescription } from '../result.ts';

/** Which published event an event id is (undefined: the harness never published it). */
export type EventLocator = (event_id: string) => { source: string; seq: number; intended_us: number } | undefined;

export interface RunSink {
  readonly kind: SinkKind;
  /** The aggregator's settings for this sink (AggregatorConfig.sink and .sink_schema). */
  readonly aggregator: { sink: string; sink_schema?: string };
  /** What result.json records about the sink. */
  readonly description: SinkDescription;
  /**
   * Every row in commit order, streamed (memory stays flat however long the run). A sink whose rows
   * carry only the event id (a user's query) names their events with `locate`; the reference
   * schema's rows carry source and seq, and ignore it.
   */
  rows(locate?: EventLocator): Iterable<SinkRow> | AsyncIterable<SinkRow>;
  /** False when the sink has no commit time (a query without one): the ledger then measures no latency. */
  readonly measures_latency?: boolean;
  /** Every dead letter, oldest first. */
  deadLetters(): Promise<DeadLetter[]>;
  /** Distinct events in the sink plus dead letters: what has been made durable, whoever acked it. */
  countDurable(): Promise<number>;
  /** A reader of the latency of recently committed rows, for the progress line (never for results). */
  liveLatency(): LiveLatency;
  /** Removes what the run left on a shared server (a SQLite file is kept for inspection); says what it removed. */
  remove(): Promise<string | undefined>;
}
