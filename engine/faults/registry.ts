// Every fault kind, where it runs and its factory. A new fault: one file plus one line here; the
// `satisfies` makes the compiler name any kind in the schema that has no entry. `needs`: what the
// system under test must offer (index.ts, TargetCapability), checked against the target up front.

import type { FaultKind, FaultSpec } from '../../scenarios/schema.ts';
import type { FaultEntry, PublishFault, SystemFault, TargetCapability } from './index.ts';
import { duplicateFault } from './duplicate.ts';
import { reorderFault } from './reorder.ts';
import { poisonFault } from './poison.ts';
import { clockSkewFault } from './clock-skew.ts';
import { consumerCrashFault } from './consumer-crash.ts';
import { brokerKillFault } from './broker-kill.ts';
import { slowSinkFault } from './slow-sink.ts';
import { latencyFault } from './latency.ts';
import { bandwidthFault } from './bandwidth.ts';
import { slicerFault } from './slicer.ts';
import { partitionFault } from './partition.ts';
import { resetPeerFault } from './reset-peer.ts';

type Entries = { [K in FaultKind]: FaultEntry<Extract<FaultSpec, { kind: K }>> };

export const FAULTS = {
  duplicate: { runs_in: 'publisher', create: duplicateFault },
  reorder: { runs_in: 'publisher', create: reorderFault },
  poison: { runs_in: 'publisher', create: poisonFault, needs: 'reference' },
  'clock-skew': { runs_in: 'publisher', create: clockSkewFault },
  'consumer-crash': { runs_in: 'system', create: consumerCrashFault, needs: 'process' },
  'broker-kill': { runs_in: 'system', create: brokerKillFault },
  'slow-sink': { runs_in: 'system', create: slowSinkFault, needs: 'reference' },
  latency: { runs_in: 'system', create: latencyFault },
  bandwidth: { runs_in: 'system', create: bandwidthFault },
  slicer: { runs_in: 'system', create: slicerFault },
  partition: { runs_in: 'system', create: partitionFault },
  'reset-peer': { runs_in: 'system', create: resetPeerFault },
} as const satisfies Entries;

/** What the system under test must offer for this fault to mean anything (undefined: nothing special). */
export function faultNeeds(kind: FaultKind): TargetCapability | undefined {
  return (FAULTS[kind] as FaultEntry<FaultSpec>).needs;
}

export function runsIn(spec: FaultSpec): 'publisher' | 'system' {
  return FAULTS[spec.kind].runs_in;
}

export function createPublishFault(spec: FaultSpec): PublishFault {
  const entry = FAULTS[spec.kind] as FaultEntry<FaultSpec>;
  if (entry.runs_in !== 'publisher') throw new Error(`fault '${spec.kind}' runs in the main thread, not in a load worker`);
  return entry.create(spec);
}

export function createSystemFault(spec: FaultSpec): SystemFault {
  const entry = FAULTS[spec.kind] as FaultEntry<FaultSpec>;
  if (entry.runs_in !== 'system') throw new Error(`fault '${spec.kind}' runs in a load worker, not in the main thread`);
  return entry.create(spec);
}
