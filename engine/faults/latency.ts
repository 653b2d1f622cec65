// latency: every chunk on an affected connection is delivered latency_ms (+ seeded jitter in
// [0, jitter_ms)) after it arrived at the proxy, order kept.
import type { LatencyFault } from '../../scenarios/schema.ts';
import { networkToxicFault } from './network-toxic.ts';

export const latencyFault = (spec: LatencyFault) => networkToxicFault(spec, { type: 'latency', latency_ms: spec.latency_ms, jitter_ms: spec.jitter_ms });
