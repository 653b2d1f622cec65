// Shipped scenario `slow-sink`: one phase of slow, jittery and stalling sink commits between two
// healthy phases, for backpressure, the backlog and the recovery after it; no loss allowed.

import { DEFAULT_AGGREGATOR, DEFAULT_LOAD, NOTHING_LOST_NOTHING_DOUBLED, WARMUP } from '../defaults.ts';
import type { Scenario } from '../schema.ts';

/** 15 s of a slow sink (20 ms + up to 20 ms jitter per commit, a 500 ms stall every 4 s) between two healthy phases. */
export const slowSink = {
  name: 'slow-sink',
  description: '1,000 ev/s; the sink turns slow for 15 s (20-40 ms per commit, 500 ms stalls) and then recovers',
  seed: 23,
  load: { ...DEFAULT_LOAD },
  phases: [
    { ...WARMUP },
    { name: 'before', duration_s: 10, rate: 1_000, faults: [] },
    { name: 'slow', duration_s: 15, rate: 1_000, faults: [{ kind: 'slow-sink', delay_ms: 20, jitter_ms: 20, stall_every_s: 4, stall_ms: 500 }] },
    { name: 'recover', duration_s: 15, rate: 1_000, faults: [] },
  ],
  aggregator: { ...DEFAULT_AGGREGATOR },
  drain_timeout_s: 30,
  checks: [...NOTHING_LOST_NOTHING_DOUBLED],
} satisfies Scenario;
