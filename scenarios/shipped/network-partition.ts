// Shipped scenario `network-partition`: the aggregator's link to the broker passes no byte for one
// phase (the connection stays open); the broker queues, and the backlog must drain without loss.

import { DEFAULT_AGGREGATOR, DEFAULT_LOAD, NOTHING_LOST_NOTHING_DOUBLED, WARMUP } from '../defaults.ts';
import type { Scenario } from '../schema.ts';

/**
 * The aggregator is cut off from the broker for 5 s (no byte either way; the connection survives,
 * as in a short network partition), then the link heals. The broker queues for the aggregator's
 * session meanwhile: nothing may be lost, and the report shows how long the backlog takes to drain.
 */
export const networkPartition = {
  name: 'network-partition',
  description: '1,000 ev/s; the aggregator is partitioned from the broker for 5 s, then the link heals',
  seed: 41,
  load: { ...DEFAULT_LOAD },
  phases: [
    { ...WARMUP },
    { name: 'before', duration_s: 10, rate: 1_000, faults: [] },
    {
      name: 'partition',
      duration_s: 5,
      rate: 1_000,
      faults: [{ kind: 'partition', target: 'aggregator', direction: 'both', toxicity: 1, close_after_ms: 0 }],
    },
    { name: 'heal', duration_s: 20, rate: 1_000, faults: [] },
  ],
  aggregator: { ...DEFAULT_AGGREGATOR },
  drain_timeout_s: 30,
  checks: [...NOTHING_LOST_NOTHING_DOUBLED],
} satisfies Scenario;
