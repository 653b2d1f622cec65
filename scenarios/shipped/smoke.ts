// Shipped scenario `smoke`: six faults in about 12 s, for CI. Only faults that keep the no-loss
// promise belong here, so that its checks can demand nothing lost and nothing doubled.

import { DEFAULT_AGGREGATOR, DEFAULT_LOAD, NOTHING_LOST_NOTHING_DOUBLED } from '../defaults.ts';
import type { Scenario } from '../schema.ts';

/**
 * Faults that keep the no-loss promise, small and quick, for CI: duplicates, reordering,
 * poison, clock skew and a slow sink at once, then a consumer crash. (broker-kill with memory
 * persistence loses messages by design, so it has its own scenario.)
 */
export const smoke = {
  name: 'smoke',
  description: 'tiny and quick (~12 s), for CI: duplicates, reordering, poison, clock skew, slow sink, then a consumer crash',
  seed: 37,
  load: { ...DEFAULT_LOAD },
  phases: [
    { name: 'warmup', duration_s: 1, rate: 200, faults: [] },
    {
      name: 'faults',
      duration_s: 4,
      rate: 400,
      faults: [
        { kind: 'duplicate', fraction: 0.2, immediate_share: 0.5, delay_ms: 200, other_connection_share: 0.5 },
        { kind: 'reorder', fraction: 0.05, window: 10 },
        { kind: 'poison', fraction: 0.02, shapes: ['not-json', 'oversized', 'schema'] },
        { kind: 'clock-skew', publisher: 1, skew_ms: -2_000 },
        { kind: 'slow-sink', delay_ms: 5, jitter_ms: 10, stall_every_s: 2, stall_ms: 200 },
      ],
    },
    { name: 'crash', duration_s: 4, rate: 400, faults: [{ kind: 'consumer-crash', at_s: 1, every_s: 0, downtime_ms: 500 }] },
    { name: 'recover', duration_s: 3, rate: 400, faults: [] },
  ],
  aggregator: { ...DEFAULT_AGGREGATOR },
  drain_timeout_s: 20,
  checks: [...NOTHING_LOST_NOTHING_DOUBLED, { metric: 'committed_ratio', op: '>=', value: 1 }],
} satisfies Scenario;
