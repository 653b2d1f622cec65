// Shared pieces of the theory experiments: a quiet scenario run into the experiment's directory,
// and the figures of a run that the tables quote.

import { mkdirSync } from 'node:fs';
import { writeReportFiles, writeResult } from '../../commands/bench/bench.ts';
import { join } from 'node:path';
import { sampleKurtosis, sampleSkewness } from 'simple-statistics';
import { DEFAULT_AGGREGATOR, DEFAULT_LOAD } from '../../scenarios/defaults.ts';
import type { Phase, Scenario } from '../../scenarios/schema.ts';
import { validateScenario } from '../../scenarios/validate.ts';
import { LatencyRecorder } from '../../engine/metrics/histogram.ts';
import type { RunResult } from '../../engine/result.ts';
import { runScenario, type AggregatorKind } from '../../engine/run.ts';
import type { TheoryContext } from './types.ts';

/** A scenario for an experiment: the shipped defaults, then the given parts. Validated by the caller's run. */
export function theoryScenario(name: string, seed: number, phases: Phase[], parts: { load?: Partial<Scenario['load']>; aggregator?: Partial<Scenario['aggregator']>; drain_timeout_s?: number } = {}): Scenario {
  return {
    name,
    description: `theory experiment ${name}`,
    seed,
    load: { ...DEFAULT_LOAD, ...parts.load },
    phases,
    aggregator: { ...DEFAULT_AGGREGATOR, ...parts.aggregator },
    drain_timeout_s: parts.drain_timeout_s ?? 20,
    checks: [],
  };
}

/** Runs one scenario quietly into <out_dir>/<label>; a scenario that does not validate is a bug in the experiment. */
export async function theoryRun(context: TheoryContext, label: string, scenario: Scenario, aggregator: AggregatorKind = 'reference'): Promise<RunResult> {
  const checked = validateScenario(scenario);
  if (!checked.ok) throw new Error(`theory run ${label}: scenario does not validate: ${checked.errors.join('; ')}`);
  const out_dir = join(context.out_dir, label);
  context.signal?.throwIfAborted();
  mkdirSync(out_dir, { recursive: true });
  const started = Date.now();
  const result = await runScenario({ scenario, overrides: {}, broker: context.broker_url ?? 'embedded', out_dir, aggregator, ...(context.signal ? { signal: context.signal } : {}) });
  // The run's own result and report sit beside the table, for whoever wants to look behind a cell.
  writeResult(out_dir, result);
  writeReportFiles(out_dir, result);
  // Interrupted: its result.json says so; the experiment goes no further.
  context.signal?.throwIfAborted();
  if (!result.valid) context.warn?.(`run '${label}' was invalid: ${result.invalid_reasons.join('; ')} — its figures are shown but measure an overloaded machine as much as the system.`);
  context.log(`  ${label}: ${result.totals.unique_committed} committed, ${result.totals.lost} lost, p99 ${result.latency.end_to_end.p99_ms} ms${result.valid ? '' : ` (invalid: ${result.invalid_reasons.join('; ')})`} [${Math.round((Date.now() - started) / 1000)} s]`);
  return result;
}

/** Sample skewness and excess kurtosis (simple-statistics) of a histogram's latencies, in ms. */
export function shapeOf(histogram: string): { skewness: number | null; kurtosis: number | null } {
  const recorder = LatencyRecorder.decode(histogram);
  if (recorder.count < 4) return { skewness: null, kurtosis: null };
  const values: number[] = [];
  for (const { value_us, count } of recorder.buckets()) for (let i = 0; i < count; i++) values.push(value_us / 1000);
  return { skewness: sampleSkewness(values), kurtosis: sampleKurtosis(values) };
}

/** Median of a non-empty list. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
