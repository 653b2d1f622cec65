// The harness's live view of a run as Prometheus metrics (chaosbench_run_*), for `bench
// --metrics-port`: what the timeline samples each second (offered, consumed, backlog, the live
// latency, the phase) and, once the result is built, the ledger's final figures. The registry is
// its own (never prom-client's global one); the endpoint is aggregator/metrics/server.ts, shared
// with the aggregator. After the result is written the endpoint waits for two more scrapes (at most
// linger_s), so that a scraper reads the final values: docs/prometheus.md.

import { Counter, Gauge, Registry } from 'prom-client';
import type { LedgerTotals } from '../ledger/index.ts';
import type { RunResult } from '../result.ts';
import type { TimelineSample } from './backlog.ts';
import type { LiveLatencySample } from './live-latency.ts';
import { MetricsServer } from '../../aggregator/metrics/server.ts';

export const RUN_METRIC_PREFIX = 'chaosbench_run_';

/** The ledger's final figures, each a gauge set when the result is built (NaN before: the ledger is made after the run). */
export const LEDGER_GAUGES = {
  unique_committed_events: { total: 'unique_committed', help: 'Published events found in the sink, each once' },
  lost_events: { total: 'lost', help: 'Events the pipeline had that are not in the sink (dead-lettered ones included)' },
  copies_absorbed_events: { total: 'copies_absorbed', help: 'Acked duplicate copies of events that are in the sink exactly once' },
  sink_duplicate_rows: { total: 'sink_duplicates', help: 'Extra rows of one event in the sink' },
} as const satisfies Record<string, { total: keyof LedgerTotals; help: string }>;

const LEDGER = "(the harness's ledger: NaN until the run's result is built)";

/** The values a scrape shows, replaced by each tick and, at the end, by the result. */
interface Shown {
  offered: number;
  consumed: number;
  backlog: number;
  phase: string | undefined;
  latency: { p50_ms: number; p99_ms: number } | undefined;
  ledger: Partial<Record<keyof typeof LEDGER_GAUGES, number>>;
}

export class RunMetrics {
  readonly registry = new Registry();
  private readonly shown: Shown = { offered: 0, consumed: 0, backlog: 0, phase: undefined, latency: undefined, ledger: {} };
  private server: MetricsServer | undefined;

  constructor(
    /** After the result is written: how long the endpoint waits for the final scrapes before it closes. */
    readonly linger_s = 0,
    /** Told the aggregator's metrics URL when the run starts it (bench prints it, even with --quiet). */
    private readonly announce: (line: string) => void = () => {},
  ) {
    const shown = this.shown;
    const registers = [this.registry];
    const counter = (name: string, help: string, value: () => number) =>
      new Counter({ name: `${RUN_METRIC_PREFIX}${name}`, help, registers, collect() { this.reset(); this.inc(value()); } });
    counter('offered_events_total', 'Original events handed to a publisher connection (copies not counted)', () => shown.offered);
    counter(
      'consumed_messages_total',
      "Messages the subscriber acknowledged, as the timeline counts them: the embedded broker's count of its PUBACKs, else the subscriber's own word",
      () => shown.consumed,
    );
    new Gauge({
      name: `${RUN_METRIC_PREFIX}backlog_messages`,
      help: 'Messages handed to the publishers and not yet acknowledged by the subscriber (the timeline backlog); at the end, those the drain did not account for',
      registers,
      collect() {
        this.set(shown.backlog);
      },
    });
    new Gauge({
      name: `${RUN_METRIC_PREFIX}latency_seconds`,
      help: 'End-to-end latency from the intended send time: live, of the rows the sink committed in the last second (ending at the batch start); at the end, the whole run from the ledger',
      labelNames: ['quantile'] as const,
      registers,
      collect() {
        this.reset();
        if (!shown.latency) return;
        this.set({ quantile: '0.5' }, shown.latency.p50_ms / 1000);
        this.set({ quantile: '0.99' }, shown.latency.p99_ms / 1000);
      },
    });
    new Gauge({
      name: `${RUN_METRIC_PREFIX}phase_info`,
      help: "The scenario's phase now (1 for the current phase; 'drain' after the schedule, 'done' once the result is built)",
      labelNames: ['phase'] as const,
      registers,
      collect() {
        this.reset();
        if (shown.phase !== undefined) this.set({ phase: shown.phase }, 1);
      },
    });
    for (const [name, { help }] of Object.entries(LEDGER_GAUGES) as [keyof typeof LEDGER_GAUGES, { help: string }][]) {
      new Gauge({
        name: `${RUN_METRIC_PREFIX}${name}`,
        help: `${help} ${LEDGER}`,
        registers,
        collect() {
          this.set(shown.ledger[name] ?? Number.NaN);
        },
      });
    }
  }

  /** Serves the registry on 127.0.0.1:port (0: a free port); rejects when it cannot be bound. */
  async start(port: number): Promise<string> {
    this.server = await MetricsServer.start(this.registry, port);
    return this.server.url;
  }

  /** The reference aggregator serves its own metrics at this port. */
  aggregatorAt(port: number): void {
    this.announce(`aggregator metrics: http://127.0.0.1:${port}/metrics (self-reported)`);
  }

  /** Each second of the schedule: the timeline's sample and the live latency. */
  tick(sample: TimelineSample, live: LiveLatencySample | undefined): void {
    this.shown.offered = sample.published;
    this.shown.consumed = sample.subscriber_acked;
    this.shown.backlog = sample.backlog;
    this.shown.phase = sample.phase;
    if (live && live.count > 0) this.shown.latency = live;
  }

  /** After the schedule, while the run drains. */
  draining(): void {
    this.shown.phase = 'drain';
  }

  /** The subscriber's count once it has stopped. */
  consumed(count: number | undefined): void {
    if (count !== undefined && count > this.shown.consumed) this.shown.consumed = count;
  }

  /** The run's result: the final figures. */
  final(result: RunResult): void {
    this.shown.offered = result.totals.published;
    this.shown.backlog = result.drain.outstanding;
    this.shown.phase = 'done';
    if (result.latency.end_to_end.count > 0) this.shown.latency = result.latency.end_to_end;
    for (const [name, { total }] of Object.entries(LEDGER_GAUGES) as [keyof typeof LEDGER_GAUGES, { total: keyof LedgerTotals }][]) {
      this.shown.ledger[name] = result.totals[total];
    }
  }

  /** After the result is written: waits for two more scrapes (at most linger_s), then closes. A run that failed has no final values: at once. */
  async close(finalValues = true): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    if (finalValues) await server.finalScrape(this.linger_s * 1000);
    await server.close();
  }
}
