// Every fault kind and its factory. A new fault: one file plus one line here; the `satisfies`
// makes the compiler name any kind in the schema that has no factory.

import type { FaultKind, FaultSpec } from '../../scenarios/schema.ts';
import type { Fault } from './index.ts';
import { duplicateFault } from './duplicate.ts';

type Factories = { [K in FaultKind]: (spec: Extract<FaultSpec, { kind: K }>) => Fault };

const FAULTS = {
  duplicate: duplicateFault,
} satisfies Factories;

export function createFault(spec: FaultSpec): Fault {
  const factory = FAULTS[spec.kind] as (spec: FaultSpec) => Fault;
  return factory(spec);
}
