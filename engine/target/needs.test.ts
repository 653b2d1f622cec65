// What a target offers against what a scenario asks (needs.ts): refused up front, naming the fault
// (or check, or load model) and the target.

import { describe, expect, it } from 'vitest';
import { SCENARIOS } from '../../scenarios/index.ts';
import { describeTarget, targetProblems } from './needs.ts';

const external = describeTarget('external', ['node', 'my-consumer.js']);

describe('targetProblems', () => {
  it('lets an external target take faults that need only a subscriber, and consumer-crash (the harness started its process)', () => {
    for (const name of ['dup-storm', 'consumer-crash', 'broker-kill', 'reorder', 'network-partition', 'latency-jitter', 'burst', 'clock-skew']) {
      expect(targetProblems(SCENARIOS[name]!, 'external', external), name).toEqual([]);
    }
  });

  it("refuses slow-sink and poison for an external target, naming the fault, what it needs and the target", () => {
    expect(targetProblems(SCENARIOS['slow-sink']!, 'external', external)).toEqual([
      expect.stringMatching(/^phases\[\d\]\.faults\[0\]: fault 'slow-sink' needs the reference aggregator .*, which the target 'external: node my-consumer\.js' does not offer$/),
    ]);
    const poison = targetProblems(SCENARIOS['poison-pill']!, 'external', external);
    expect(poison.some((p) => p.includes("fault 'poison' needs the reference aggregator") && p.includes('my-consumer.js'))).toBe(true);
  });

  it('refuses a DLQ check and the closed model for an external target', () => {
    const scenario = structuredClone(SCENARIOS['dup-storm']!);
    scenario.checks.push({ metric: 'dlq', op: '==', value: 0 });
    scenario.load.model = 'closed';
    const problems = targetProblems(scenario, 'external', external);
    expect(problems).toContainEqual(expect.stringMatching(/^checks\[5\]: check 'dlq' needs the reference aggregator/));
    expect(problems).toContainEqual(expect.stringMatching(/^load\.model: the closed model .* target 'external: node my-consumer\.js'/));
  });

  it('lets the reference aggregator and the bare subscriber take every shipped scenario', () => {
    for (const scenario of Object.values(SCENARIOS)) {
      expect(targetProblems(scenario, 'reference', describeTarget('reference'))).toEqual([]);
      expect(targetProblems(scenario, 'none', describeTarget('none'))).toEqual([]);
    }
  });
});
