// Shipped scenario `clock-skew`: one publisher's event time (`ts`) is wrong while its seq and the
// harness's intended send times stay true; nothing may be lost or doubled.

import { DEFAULT_AGGREGATOR, DEFAULT_LOAD, NOTHING_LOST_NOTHING_DOUBLED, WARMUP } from '../defaults.ts';
import type { Scenario } from '../schema.ts';

/** Publisher 0's clock runs 5 s behind: its `ts` lies, its seq does not; ordering by seq is unaffected. */
export const clockSkew = {
  name: 'clock-skew',
  description: '1,000 ev/s where publisher 0 stamps event time 5 s in the past (ts is wrong, seq is right)',
  seed: 13,
  load: { ...DEFAULT_LOAD },
  phases: [{ ...WARMUP }, { name: 'skewed', duration_s: 20, rate: 1_000, faults: [{ kind: 'clock-skew', publisher: 0, skew_ms: -5_000 }] }],
  aggregator: { ...DEFAULT_AGGREGATOR },
  drain_timeout_s: 20,
  checks: [...NOTHING_LOST_NOTHING_DOUBLED],
} satisfies Scenario;
