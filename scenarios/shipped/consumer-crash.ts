// Shipped scenario `consumer-crash`: repeated SIGKILLs of the aggregator, the test of
// ack-after-commit and the idempotent sink; nothing lost and nothing doubled is the promise.

import { DEFAULT_AGGREGATOR, DEFAULT_LOAD, NOTHING_LOST_NOTHING_DOUBLED, WARMUP } from '../defaults.ts';
import type { Scenario } from '../schema.ts';

/** The aggregator is SIGKILLed mid-batch three times and restarted after 1 s: ack-after-commit + idempotent sink = no loss, no duplicate. */
export const consumerCrash = {
  name: 'consumer-crash',
  description: '1,000 ev/s while the aggregator is SIGKILLed every 10 s (1 s down) and restarted',
  seed: 17,
  load: { ...DEFAULT_LOAD },
  phases: [
    { ...WARMUP },
    { name: 'before', duration_s: 5, rate: 1_000, faults: [] },
    { name: 'crashes', duration_s: 30, rate: 1_000, faults: [{ kind: 'consumer-crash', at_s: 5, every_s: 10, downtime_ms: 1_000 }] },
    { name: 'recover', duration_s: 10, rate: 1_000, faults: [] },
  ],
  aggregator: { ...DEFAULT_AGGREGATOR },
  drain_timeout_s: 30,
  checks: [...NOTHING_LOST_NOTHING_DOUBLED],
} satisfies Scenario;
