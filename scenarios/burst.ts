import { DEFAULT_AGGREGATOR, DEFAULT_LOAD, NOTHING_LOST_NOTHING_DOUBLED, WARMUP } from './defaults.ts';
import type { Scenario } from './schema.ts';

/** 2 s spikes at 20× the steady rate: backpressure during the spike, and how long the backlog takes to drain after it. */
export const burst = {
  name: 'burst',
  description: '1,000 ev/s with two 2 s spikes at 20,000 ev/s: backpressure and recovery',
  seed: 29,
  load: { ...DEFAULT_LOAD },
  phases: [
    { ...WARMUP },
    { name: 'steady', duration_s: 10, rate: 1_000, faults: [] },
    { name: 'spike-1', duration_s: 2, rate: 20_000, faults: [] },
    { name: 'recover-1', duration_s: 15, rate: 1_000, faults: [] },
    { name: 'spike-2', duration_s: 2, rate: 20_000, faults: [] },
    { name: 'recover-2', duration_s: 15, rate: 1_000, faults: [] },
  ],
  aggregator: { ...DEFAULT_AGGREGATOR },
  drain_timeout_s: 30,
  checks: [...NOTHING_LOST_NOTHING_DOUBLED],
} satisfies Scenario;
