// Shipped scenario `latency-jitter`: added latency and jitter on every link of the harness's TCP
// proxy for one phase between two clean ones; nothing may be lost or doubled.

import { DEFAULT_AGGREGATOR, DEFAULT_LOAD, NOTHING_LOST_NOTHING_DOUBLED, WARMUP } from '../defaults.ts';
import type { Scenario } from '../schema.ts';

/** 50 ms ± 50 ms of network latency on every client's link (both directions), then back to a clean network. */
export const latencyJitter = {
  name: 'latency-jitter',
  description: '1,000 ev/s with 50-100 ms of added network latency on every link for 20 s, then a clean network',
  seed: 43,
  load: { ...DEFAULT_LOAD },
  phases: [
    { ...WARMUP },
    { name: 'clean', duration_s: 10, rate: 1_000, faults: [] },
    {
      name: 'jitter',
      duration_s: 20,
      rate: 1_000,
      faults: [{ kind: 'latency', target: 'all', direction: 'both', toxicity: 1, latency_ms: 50, jitter_ms: 50 }],
    },
    { name: 'after', duration_s: 10, rate: 1_000, faults: [] },
  ],
  aggregator: { ...DEFAULT_AGGREGATOR },
  drain_timeout_s: 30,
  checks: [...NOTHING_LOST_NOTHING_DOUBLED],
} satisfies Scenario;
