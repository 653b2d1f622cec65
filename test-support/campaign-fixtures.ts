// A compare.json and a gate.json as the commands write them, made by hand (imported by *.test.ts
// files only): two variants of two replicates each, and a gate with one clear p99 regression; and a
// stand-in for runScenario that the campaign runner (compare, perf) calls instead of making runs.

import { decide, METRICS } from '../commands/gate/stats.ts';
import { readFileSync } from 'node:fs';
import type { RunFigures } from '../engine/figures.ts';
import { evaluateChecks, type RunResult } from '../engine/result.ts';
import type { RunOptions } from '../engine/run.ts';
import { COMPARE_SCHEMA, type CompareReport } from '../reports/compare.ts';
import { GATE_SCHEMA, type GateReport } from '../reports/gate.ts';

/** One run's figures: a clean run at 1000 ev/s, p99 10 ms, with `changes` over it. */
export function runFigures(changes: Partial<RunFigures> = {}): RunFigures {
  return {
    target_per_s: 1000,
    offered_per_s: 1000,
    committed_per_s: 1000,
    p50_ms: 5,
    p99_ms: 10,
    p99_9_ms: 20,
    duplicate_rate: 0.2,
    loss_rate: 0,
    sink_duplicates: 0,
    lost: 0,
    lost_unacked: 0,
    never_sent: 0,
    overloaded_phases: [],
    duration_s: 20,
    ...changes,
  };
}

const figures = (committed: number, p99: number): RunFigures => runFigures({ committed_per_s: committed, p99_ms: p99 });

/** memory (1000, 1100 ev/s; p99 10, 11 ms) against variantName (800, 600 ev/s; p99 14, 18 ms), interleaved. */
export function compareReportFixture(variantName = 'sqlite'): CompareReport {
  const spec: [string, number, number][] = [
    ['memory', 1000, 10],
    [variantName, 800, 14],
    ['memory', 1100, 11],
    [variantName, 600, 18],
  ];
  return {
    schema: COMPARE_SCHEMA,
    command: 'npm run compare -- --scenario dup-storm --dedup memory,sqlite',
    scenario: 'dup-storm',
    seed: 42,
    replicates: 2,
    axis: { flag: '--dedup', field: 'aggregator.dedup' },
    variants: ['memory', variantName].map((name) => ({ name, value: name, aggregator: 'reference' as const })),
    load: 'storm 1000/s for 10 s',
    broker: 'embedded',
    machine: null,
    git_sha: '0123456789abcdef',
    started_at: '2026-11-25T14:00:00.000Z',
    finished_at: '2026-11-25T14:03:05.000Z',
    runs: spec.map(([variant, committed, p99], i) => ({
      order: i + 1,
      variant,
      replicate: i < 2 ? 1 : 2,
      out_dir: `/tmp/out/${i}`,
      run_id: `run-${i}`,
      aggregator: 'reference',
      valid: true,
      invalid_reasons: [],
      passed: true,
      error: null,
      figures: figures(committed, p99),
    })),
  };
}

/** A baseline file against this checkout: p99 10 ms against 20 ms, a regression (exit 1). */
export function gateReportFixture(changes: Partial<GateReport> = {}): GateReport {
  const stat = { floor: 0.1, confidence: 0.9, cvLimit: 0.3 };
  return {
    schema: GATE_SCHEMA,
    command: 'npm run gate -- --scenario gate --baseline baselines/gate.json',
    mode: 'baseline-file',
    scenario: 'gate',
    load: 'measure 400/s for 4 s',
    replicates: 5,
    baseline_label: 'baselines/gate.json',
    candidate_label: 'this checkout',
    machine: null,
    baseline_machine: null,
    git_sha: 'abcdef0123456789',
    baseline_git_sha: null,
    machine_load: { baseline: null, candidate: null },
    started_at: '2026-01-01T00:00:00.000Z',
    finished_at: '2026-01-01T00:01:00.000Z',
    runs: [],
    correctness: { promised: ['lost'], failures: [] },
    decisions: [decide({ ...stat, metric: METRICS.p99_ms, baseline: [10.1, 9.8, 10.3, 9.9, 10.0], candidate: [20.4, 19.6, 20.1, 20.8, 19.9] })],
    aa: null,
    outcome: 'regression',
    exit: 1,
    message: 'p99_ms: regression',
    notes: [],
    ...changes,
  };
}

const RESULT_FIXTURE = readFileSync(new URL('./fixtures/dup-storm.result.json', import.meta.url), 'utf8');

/**
 * A stand-in for runScenario: the dup-storm fixture result with the run's scenario, overrides and
 * aggregator, and the committed ev/s, validity, error or lost events chosen per run directory
 * (`memory-r1`); `calls` records every run asked for, in order.
 */
export function fakeRun(outcomes: Record<string, { committed: number; valid?: boolean; throws?: string; lost?: number }>) {
  const calls: RunOptions[] = [];
  const run = async (options: RunOptions): Promise<RunResult> => {
    calls.push(options);
    const key = options.out_dir.split('/').at(-1)!;
    const outcome = outcomes[key];
    if (!outcome) throw new Error(`unexpected run ${key}`);
    if (outcome.throws) throw new Error(outcome.throws);
    const result = JSON.parse(RESULT_FIXTURE) as RunResult;
    result.aggregator.kind = options.aggregator ?? 'reference';
    result.scenario = options.scenario;
    result.overrides = options.overrides;
    result.throughput.committed_per_s = outcome.committed;
    result.valid = outcome.valid ?? true;
    result.invalid_reasons = result.valid ? [] : ['the generator fell behind its schedule'];
    if (outcome.lost) {
      result.totals.lost = outcome.lost;
      result.checks = evaluateChecks(options.scenario.checks, result);
      result.passed = result.checks.every((c) => c.passed);
    }
    return result;
  };
  return { run, calls };
}
