// Shared pieces of the shipped scenarios: plain data to spread into each one, so a scenario file
// says only what makes it different. Nothing here is a closure. The aggregator's settings are the
// aggregator's own defaults (aggregator/config.ts), not a second copy of them.

import { DEFAULT_SCENARIO_SETTINGS } from '../aggregator/config.ts';
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

/** Every setting a scenario must give, at the aggregator's default (the table in aggregator/config.ts says which). */
export const DEFAULT_AGGREGATOR: Readonly<Scenario['aggregator']> = DEFAULT_SCENARIO_SETTINGS;

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
