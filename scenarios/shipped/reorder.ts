// Shipped scenario `reorder`: events released out of per-source seq order. Its checks require the
// reordering to have happened (`reordered` > 0) and nothing lost or doubled.

import { DEFAULT_AGGREGATOR, DEFAULT_LOAD, NOTHING_LOST_NOTHING_DOUBLED, WARMUP } from '../defaults.ts';
import type { Scenario } from '../schema.ts';

/** 5% of events held back and released after up to 20 later events of their source: seq order breaks, nothing else may. */
export const reorder = {
  name: 'reorder',
  description: '1,000 ev/s with 5% of events released after up to 20 later ones of their source (out of seq order)',
  seed: 7,
  load: { ...DEFAULT_LOAD },
  phases: [{ ...WARMUP }, { name: 'reorder', duration_s: 20, rate: 1_000, faults: [{ kind: 'reorder', fraction: 0.05, window: 20 }] }],
  aggregator: { ...DEFAULT_AGGREGATOR },
  drain_timeout_s: 20,
  checks: [...NOTHING_LOST_NOTHING_DOUBLED, { metric: 'reordered', op: '>', value: 0 }],
} satisfies Scenario;
