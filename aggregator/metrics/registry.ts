// The reference aggregator's Prometheus metrics (chaosbench_aggregator_*), in a Registry of its own
// (never prom-client's global one). The counters are the pipeline's own (AggregatorCounters), read at
// each scrape: one entry per counter below, and the compiler holds the table to the counters.
// Every figure here is the aggregator's word about itself, and its HELP says so; the harness's
// verdict never rests on it (it reads the sink). Beside them, once the endpoint is served, the
// process's own figures (prom-client's default metrics: CPU, memory, heap, event loop, GC) under the
// same prefix, so that they cannot clash with the harness's registry (chaosbench_run_*) or with any
// other process's unprefixed process_* series if the registries are ever merged.

import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AggregatorCounters } from '../pipeline.ts';

export const AGGREGATOR_METRIC_PREFIX = 'chaosbench_aggregator_';
const SELF = '(as the aggregator reports it)';

type CountKey = Exclude<keyof AggregatorCounters, 'dedup_store'>;

/** Each counter of AggregatorCounters as a Prometheus counter: its name (after the prefix) and HELP. */
export const AGGREGATOR_COUNTERS: Record<CountKey, { name: string; help: string }> = {
  received: { name: 'received_total', help: 'Messages received from the broker or over HTTP' },
  broker_redeliveries: { name: 'broker_redeliveries_total', help: 'Messages the broker flagged DUP (its own redeliveries; Aedes never sets the flag)' },
  redelivered: { name: 'redelivered_total', help: 'Deliveries of an event already committed, whatever absorbed them' },
  duplicates_absorbed: { name: 'duplicates_absorbed_total', help: 'Deliveries of an already committed event stopped by the dedup store' },
  duplicates_absorbed_by_sink: { name: 'duplicates_absorbed_by_sink_total', help: "Deliveries of an already committed event stopped by the sink's key (ON CONFLICT)" },
  committed: { name: 'committed_total', help: 'Events written to the sink (new rows)' },
  dlq: { name: 'dead_lettered_total', help: 'Messages written to the dead-letter table' },
  retries: { name: 'retries_total', help: 'Retried attempts of a commit, claim or dead-letter write' },
  errors: { name: 'errors_total', help: 'Failures seen (each retry is caused by one)' },
  claim_failures: { name: 'claim_failures_total', help: 'Commit-first stores: events in the sink whose claim the store refused' },
  dlq_over_budget: { name: 'dlq_over_budget_total', help: "Dead-letter writes refused because the DLQ's byte budget (dlq_max_bytes) was spent: retries of a stalled batch" },
  batches: { name: 'batches_total', help: 'Batches processed' },
  acked: { name: 'acked_total', help: 'Messages acked (PUBACK sent, or HTTP answered) after their outcome was durable' },
};

/** Upper bounds of the batch commit histogram (seconds). */
const BATCH_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** What a scrape reads of a running aggregator. */
export interface AggregatorGauges {
  counters: AggregatorCounters | undefined;
  /** Messages received and not yet acked. */
  in_flight: number;
  /** Seconds since the oldest message not yet acked was received (0 when none). */
  lag_s: number;
}

export interface AggregatorMetrics {
  registry: Registry;
  /** Called with each batch's seconds from its turn at the sink to its last ack. */
  observeBatch(seconds: number): void;
  /**
   * Adds the process's own metrics (prom-client's defaults, prefixed: chaosbench_aggregator_process_cpu_user_seconds_total,
   * chaosbench_aggregator_nodejs_heap_size_used_bytes, …). Once; called when the endpoint starts, since
   * they watch the event loop and GC from then on, which an aggregator without --metrics-port should not pay for.
   */
  addProcessMetrics(): void;
}

/** A registry that reads `read()` at every scrape. */
export function aggregatorMetrics(read: () => AggregatorGauges): AggregatorMetrics {
  const registry = new Registry();
  for (const [key, { name, help }] of Object.entries(AGGREGATOR_COUNTERS) as [CountKey, { name: string; help: string }][]) {
    new Counter({
      name: `${AGGREGATOR_METRIC_PREFIX}${name}`,
      help: `${help} ${SELF}`,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read().counters?.[key] ?? 0);
      },
    });
  }
  new Gauge({
    name: `${AGGREGATOR_METRIC_PREFIX}in_flight_messages`,
    help: `Messages received and not yet acked: in the batch being filled or being committed ${SELF}`,
    registers: [registry],
    collect() {
      this.set(read().in_flight);
    },
  });
  new Gauge({
    name: `${AGGREGATOR_METRIC_PREFIX}consumer_lag_seconds`,
    help: `Consumer lag: seconds since the oldest message received and not yet acked arrived (0 when none is in flight) ${SELF}`,
    registers: [registry],
    collect() {
      this.set(read().lag_s);
    },
  });
  const batches = new Histogram({
    name: `${AGGREGATOR_METRIC_PREFIX}batch_commit_seconds`,
    help: `Seconds from a batch's turn at the sink to its last ack: validation, dedup claims, the sink's commit and the acks ${SELF}`,
    buckets: BATCH_BUCKETS,
    registers: [registry],
  });
  let processMetrics = false;
  return {
    registry,
    observeBatch: (seconds) => batches.observe(seconds),
    addProcessMetrics() {
      if (processMetrics) return;
      processMetrics = true;
      collectDefaultMetrics({ register: registry, prefix: AGGREGATOR_METRIC_PREFIX });
      // prom-client's HELP does not say whose view a figure is: the same words as every other figure here.
      for (const metric of registry.getMetricsAsArray()) if (!metric.help.endsWith(SELF)) metric.help = `${metric.help} ${SELF}`;
    },
  };
}
