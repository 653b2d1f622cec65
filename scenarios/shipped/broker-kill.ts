// Shipped scenario `broker-kill`: a broker SIGKILL with memory persistence. Its checks promise no
// loss on purpose, so a run that loses what the broker held fails; broker-kill-redis.ts reuses it.

import { DEFAULT_AGGREGATOR, DEFAULT_LOAD, NOTHING_LOST_NOTHING_DOUBLED, WARMUP } from '../defaults.ts';
import type { Scenario } from '../schema.ts';

/**
 * The embedded broker is SIGKILLed and restarted after 1 s, with memory persistence: queued QoS 1
 * messages and the aggregator's session die with it. The checks promise no loss, so this scenario
 * fails when the broker loses messages — which is the finding it exists to show.
 */
export const brokerKill = {
  name: 'broker-kill',
  description: '1,000 ev/s while the embedded broker (memory persistence) is SIGKILLed and restarted after 1 s',
  seed: 19,
  load: { ...DEFAULT_LOAD },
  phases: [
    { ...WARMUP },
    { name: 'before', duration_s: 5, rate: 1_000, faults: [] },
    { name: 'kill', duration_s: 20, rate: 1_000, faults: [{ kind: 'broker-kill', at_s: 8, every_s: 0, downtime_ms: 1_000 }] },
    { name: 'recover', duration_s: 10, rate: 1_000, faults: [] },
  ],
  aggregator: { ...DEFAULT_AGGREGATOR },
  broker: { persistence: 'memory' },
  drain_timeout_s: 30,
  checks: [...NOTHING_LOST_NOTHING_DOUBLED],
} satisfies Scenario;
