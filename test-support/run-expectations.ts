// Assertions shared by the end-to-end run tests (imported by *.test.ts files only).

import { expect } from 'vitest';
import type { LedgerTotals } from '../engine/ledger/index.ts';
import type { RunResult } from '../engine/result.ts';

/** Every scheduled event published and committed exactly once: nothing lost, doubled or foreign in the sink. */
export function expectEveryEventOnce(t: LedgerTotals, published: number): void {
  expect(t.published).toBe(published);
  expect(t.unique_committed).toBe(t.published);
  expect(t.lost).toBe(0);
  expect(t.lost_unacked).toBe(0);
  expect(t.never_sent).toBe(0);
  expect(t.sink_duplicates).toBe(0);
  expect(t.unexpected).toBe(0);
}

/**
 * These runs check what the pipeline did (counts from the broker and the sink), on a machine that
 * runs another test file beside them. There the generator's worker thread can be kept off the CPU
 * for a moment: lag p99 113–195 ms (limit 100 ms) in clean-clone suites with two end-to-end files at
 * once, never when the file runs alone. That makes a run's latency figures untrustworthy, not its
 * counts, so it is the one reason for an invalid run these tests accept; any other fails them.
 */
export function expectValidApartFromGeneratorLag(result: { valid: boolean; invalid_reasons: string[] }): void {
  // Lag is judged per measured phase (result-assembly.ts), and the reason names the phase.
  const others = result.invalid_reasons.filter((reason) => !/^the generator fell behind its schedule in phase '[^']*': lag p99 /.test(reason));
  expect(others).toEqual([]);
}

/**
 * A store fault that stalled the run and then cleared (issue 16: a stall, never a dead letter):
 * every event once, nothing dead-lettered, the drain complete, the aggregator retried
 * (self-reported), and, from the harness's own timeline, next to nothing acked in the samples
 * after `from_s` up to `to_s` while the fault lasted.
 */
export function expectStalledNotDeadLettered(result: RunResult, published: number, stall: { from_s: number; to_s: number; rate: number }): void {
  const t = result.totals;
  expectEveryEventOnce(t, published);
  expect(t.dlq).toBe(0);
  expect(t.dead_lettered).toBe(0);
  expect(result.drain.complete).toBe(true);
  expect(result.aggregator.self_reported.dlq).toBe(0);
  expect(result.aggregator.self_reported.retries).toBeGreaterThan(0);
  const during = result.timeline.filter((s) => s.t_s > stall.from_s && s.t_s <= stall.to_s);
  expect(during.length).toBeGreaterThan(0);
  expect(Math.min(...during.map((s) => s.consumed_per_s))).toBeLessThan(stall.rate / 10);
}
