// The shape every network fault shares: for the length of its phase, one toxic on the harness's
// TCP proxy (engine/network/proxy.ts) for the chosen clients and direction. Each network fault's
// own file says only which toxic it is.

import type { NetworkFaultSpec } from '../../scenarios/schema.ts';
import type { ToxicSpec } from '../network/proxy.ts';
import type { SystemFault, SystemFaultContext } from './index.ts';

export function networkToxicFault(spec: NetworkFaultSpec, toxic: ToxicSpec): SystemFault {
  let removal: { remove(): Record<string, number> } | undefined;
  let counts: Record<string, number> = {};
  return {
    kind: spec.kind,
    start(context: SystemFaultContext) {
      removal = context.addToxic(spec, toxic, Math.floor(context.random() * 2 ** 32));
    },
    async stop() {
      if (removal) counts = removal.remove();
      removal = undefined;
    },
    injected: () => ({ ...counts }),
  };
}
