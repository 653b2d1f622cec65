// reset-peer: affected connections are reset (TCP RST) after_ms into the phase, or after_ms after
// they open during it; clients reconnect and resend what was not acknowledged.
import type { ResetPeerFault } from '../../scenarios/schema.ts';
import { networkToxicFault } from './network-toxic.ts';

export const resetPeerFault = (spec: ResetPeerFault) => networkToxicFault(spec, { type: 'reset-peer', timeout_ms: spec.after_ms });
