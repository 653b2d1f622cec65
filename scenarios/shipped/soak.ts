// Shipped scenario `soak`: one long steady phase with a few duplicates, for memory growth and p99
// drift over the timeline; `--duration` stretches it.

import { DEFAULT_AGGREGATOR, DEFAULT_LOAD, NOTHING_LOST_NOTHING_DOUBLED, WARMUP } from '../defaults.ts';
import type { Scenario } from '../schema.ts';

/** Long and steady with a few duplicates: memory growth (harness RSS is in the result) and p99 drift over the timeline. */
export const soak = {
  name: 'soak',
  description: '2,000 ev/s for 10 minutes with 5% duplicates: memory growth and p99 drift (--duration 1h for a real soak)',
  seed: 31,
  load: { ...DEFAULT_LOAD },
  phases: [
    { ...WARMUP },
    {
      name: 'soak',
      duration_s: 600,
      rate: 2_000,
      faults: [{ kind: 'duplicate', fraction: 0.05, immediate_share: 0.5, delay_ms: 1_000, other_connection_share: 0.5 }],
    },
  ],
  aggregator: { ...DEFAULT_AGGREGATOR },
  drain_timeout_s: 60,
  checks: [...NOTHING_LOST_NOTHING_DOUBLED],
} satisfies Scenario;
