// Shipped scenario `poison-pill`: malformed messages beside a healthy stream. Its checks require
// every valid event committed and a non-empty DLQ (the poison is not in the ledger).

import { DEFAULT_AGGREGATOR, DEFAULT_LOAD, NOTHING_LOST_NOTHING_DOUBLED, WARMUP } from '../defaults.ts';
import type { Scenario } from '../schema.ts';

/** One malformed message per 50 events (not JSON, oversized, schema-breaking): each to the DLQ with a reason, the healthy stream untouched. */
export const poisonPill = {
  name: 'poison-pill',
  description: '1,000 ev/s plus 2% poison messages (not JSON, oversized, schema-violating) that must land in the DLQ',
  seed: 11,
  load: { ...DEFAULT_LOAD },
  phases: [
    { ...WARMUP },
    { name: 'poison', duration_s: 20, rate: 1_000, faults: [{ kind: 'poison', fraction: 0.02, shapes: ['not-json', 'oversized', 'schema'] }] },
  ],
  aggregator: { ...DEFAULT_AGGREGATOR },
  drain_timeout_s: 20,
  checks: [...NOTHING_LOST_NOTHING_DOUBLED, { metric: 'committed_ratio', op: '>=', value: 1 }, { metric: 'dlq', op: '>', value: 0 }],
} satisfies Scenario;
