// bandwidth: affected connections carry at most rate_kb_s kilobytes per second in each chosen
// direction.
import type { BandwidthFault } from '../../scenarios/schema.ts';
import { networkToxicFault } from './network-toxic.ts';

export const bandwidthFault = (spec: BandwidthFault) => networkToxicFault(spec, { type: 'bandwidth', rate_kb_s: spec.rate_kb_s });
