// Shipped scenario `dup-storm`, the main run of `npm run bench`: republished event ids against
// the dedup store and the idempotent sink; every copy must be absorbed.

import { DEFAULT_AGGREGATOR, DEFAULT_LOAD, NOTHING_LOST_NOTHING_DOUBLED, WARMUP } from '../defaults.ts';
import type { Scenario } from '../schema.ts';

/**
 * Steady load where 30% of events are published again with the same event_id: half right away, half
 * after 500 ms; half from the original publisher's connection, half from another one. With dedup on,
 * every copy must be absorbed: 0 lost, 0 duplicates in the sink.
 */
export const dupStorm = {
  name: 'dup-storm',
  description: 'steady 1,000 ev/s with 30% of events republished (same event_id, now and later, same and other connection)',
  seed: 42,
  load: { ...DEFAULT_LOAD },
  phases: [
    { ...WARMUP },
    {
      name: 'storm',
      duration_s: 15,
      rate: 1_000,
      faults: [{ kind: 'duplicate', fraction: 0.3, immediate_share: 0.5, delay_ms: 500, other_connection_share: 0.5 }],
    },
  ],
  aggregator: { ...DEFAULT_AGGREGATOR },
  drain_timeout_s: 20,
  checks: [...NOTHING_LOST_NOTHING_DOUBLED],
} satisfies Scenario;
