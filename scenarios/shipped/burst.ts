// Shipped scenario `burst`: load spikes above the sink's capacity (a fixed sink_delay_ms bounds
// it), for the overload verdict and the recovery time of the phases after each spike.

import { DEFAULT_AGGREGATOR, DEFAULT_LOAD, NOTHING_LOST_NOTHING_DOUBLED, WARMUP } from '../defaults.ts';
import type { Scenario } from '../schema.ts';

/**
 * Two 4 s spikes at 15× the steady rate against a sink that commits at most about 10,000 ev/s
 * (batches of 100, 10 ms per commit): the broker queues, the spike phases are reported overloaded,
 * and the recovery after each says how long the backlog took to drain.
 */
export const burst = {
  name: 'burst',
  description: '1,000 ev/s with two 4 s spikes at 15,000 ev/s against a sink of ~10,000 ev/s: backpressure and recovery',
  seed: 29,
  load: { ...DEFAULT_LOAD },
  phases: [
    { ...WARMUP },
    { name: 'steady', duration_s: 8, rate: 1_000, faults: [] },
    { name: 'spike-1', duration_s: 4, rate: 15_000, faults: [] },
    { name: 'recover-1', duration_s: 12, rate: 1_000, faults: [] },
    { name: 'spike-2', duration_s: 4, rate: 15_000, faults: [] },
    { name: 'recover-2', duration_s: 12, rate: 1_000, faults: [] },
  ],
  aggregator: { ...DEFAULT_AGGREGATOR, batch_size: 100, sink_delay_ms: 10 },
  drain_timeout_s: 30,
  checks: [...NOTHING_LOST_NOTHING_DOUBLED],
} satisfies Scenario;
