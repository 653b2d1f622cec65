// Shared pieces of the shipped scenarios: plain data to spread into each one, so a scenario file
// says only what makes it different. Nothing here is a closure. The aggregator's settings are the
// aggregator's own defaults (aggregator/service.ts), not a second copy of them.

import { DEFAULT_AGGREGATOR_CONFIG } from '../aggregator/service.ts';
import type { Check, Scenario } from './schema.ts';

export const DEFAULT_LOAD = {
  model: 'open',
  concurrency: 256,
  publishers: 4,
  workers: 1,
  payload_bytes: 256,
  topics: 1,
  window: 256,
  puback_timeout_ms: 10_000,
} as const satisfies Scenario['load'];

const { dedup, dedup_ttl_ms, sink_mode, sink_delay_ms, batch_size, batch_wait_ms, max_in_flight } = DEFAULT_AGGREGATOR_CONFIG;

export const DEFAULT_AGGREGATOR: Readonly<Scenario['aggregator']> = { dedup, dedup_ttl_ms, sink_mode, sink_delay_ms, batch_size, batch_wait_ms, max_in_flight };

/**
 * What at-least-once delivery with dedup and an idempotent sink promises under any fault: every
 * event the harness meant to publish is in the sink once (a dead-lettered valid event is lost, an
 * event the broker never acked or the harness could never hand over is not in the sink either).
 */
export const NOTHING_LOST_NOTHING_DOUBLED: Check[] = [
  { metric: 'lost', op: '==', value: 0 },
  { metric: 'lost_unacked', op: '==', value: 0 },
  { metric: 'never_sent', op: '==', value: 0 },
  { metric: 'sink_duplicates', op: '==', value: 0 },
  { metric: 'unexpected', op: '==', value: 0 },
];

export const WARMUP = { name: 'warmup', duration_s: 2, rate: 500, faults: [] } as const satisfies Scenario['phases'][number];
