import type { Scenario } from './schema.ts';

/**
 * Steady load where 30% of events are published again with the same event_id: half right away, half
 * after 500 ms; half from the original publisher's connection, half from another one. With dedup on,
 * every copy must be absorbed: 0 lost, 0 duplicates in the sink.
 */
export const dupStorm = {
  name: 'dup-storm',
  description: 'steady 1,000 ev/s with 30% of events republished (same event_id, now and later, same and other connection)',
  seed: 42,
  load: {
    model: 'open',
    concurrency: 256,
    publishers: 4,
    workers: 1,
    payload_bytes: 256,
    topics: 1,
    window: 256,
    puback_timeout_ms: 10_000,
  },
  phases: [
    { name: 'warmup', duration_s: 2, rate: 500, faults: [] },
    {
      name: 'storm',
      duration_s: 15,
      rate: 1_000,
      faults: [{ kind: 'duplicate', fraction: 0.3, immediate_share: 0.5, delay_ms: 500, other_connection_share: 0.5 }],
    },
  ],
  aggregator: {
    dedup: 'sqlite',
    dedup_ttl_ms: 600_000,
    sink_mode: 'idempotent',
    sink_delay_ms: 0,
    batch_size: 200,
    batch_wait_ms: 5,
    max_in_flight: 2_000,
  },
  drain_timeout_s: 20,
  checks: [
    { metric: 'lost', op: '==', value: 0 },
    { metric: 'sink_duplicates', op: '==', value: 0 },
    { metric: 'unexpected', op: '==', value: 0 },
  ],
} satisfies Scenario;
