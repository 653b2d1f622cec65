// partition: no byte passes on affected connections while the phase lasts (a blackhole, like
// Toxiproxy's timeout toxic); held data flows again when it heals, unless close_after_ms > 0
// closes the connections first and the clients must reconnect.
import type { PartitionFault } from '../../scenarios/schema.ts';
import { networkToxicFault } from './network-toxic.ts';

export const partitionFault = (spec: PartitionFault) => networkToxicFault(spec, { type: 'timeout', timeout_ms: spec.close_after_ms });
