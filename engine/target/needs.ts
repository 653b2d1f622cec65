// Does the target offer what the scenario asks of it? Faults declare what they need
// (engine/faults/registry.ts, `needs`), targets what they offer (TARGET_OFFERS below); a scenario
// asking for more than its target offers is refused before anything starts (exit 2), naming the
// fault (or check, or load model) and the target. Pure.

import type { TargetCapability } from '../faults/index.ts';
import { faultNeeds } from '../faults/registry.ts';
import type { CheckMetric, Scenario } from '../../scenarios/schema.ts';
import type { TargetKind } from './interface.ts';

/** What each kind of target offers. The bare subscriber is the reference program in bare mode. */
export const TARGET_OFFERS: { [K in TargetKind]: readonly TargetCapability[] } = {
  reference: ['process', 'reference'],
  none: ['process', 'reference'],
  external: ['process'],
};

/** What each capability is, for the message. */
const CAPABILITY: { [C in TargetCapability]: string } = {
  process: 'a consumer process the harness started (to SIGKILL and restart)',
  reference: 'the reference aggregator (the slow-sink profile goes to it over IPC; only its sink has a dead-letter table)',
};

/** Checks that only mean something with the reference aggregator's dead-letter table. */
const CHECK_NEEDS: Partial<Record<CheckMetric, TargetCapability>> = { dlq: 'reference', dead_lettered: 'reference' };

/** Every way the scenario asks for more than the target offers; `target` names it in the messages. */
export function targetProblems(scenario: Scenario, kind: TargetKind, target: string): string[] {
  const offers = TARGET_OFFERS[kind];
  const problems: string[] = [];
  scenario.phases.forEach((phase, i) =>
    phase.faults.forEach((fault, j) => {
      const needs = faultNeeds(fault.kind);
      if (needs && !offers.includes(needs)) {
        problems.push(`phases[${i}].faults[${j}]: fault '${fault.kind}' needs ${CAPABILITY[needs]}, which the target ${target} does not offer`);
      }
    }),
  );
  scenario.checks.forEach((check, i) => {
    const needs = CHECK_NEEDS[check.metric];
    if (needs && !offers.includes(needs)) problems.push(`checks[${i}]: check '${check.metric}' needs ${CAPABILITY[needs]}, which the target ${target} does not offer`);
  });
  if (scenario.load.model === 'closed' && !offers.includes('reference')) {
    problems.push(`load.model: the closed model paces itself on the reference aggregator's ack counters, which the target ${target} does not report (use the open model)`);
  }
  return problems;
}

/** The target's name in messages and the report. */
export function describeTarget(kind: TargetKind, command?: readonly string[]): string {
  if (kind === 'external') return `'external: ${(command ?? []).join(' ')}'`;
  return kind === 'none' ? "'none' (bare subscriber)" : "'reference' (the reference aggregator)";
}
