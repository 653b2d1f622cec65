// The perf table and its target lines from a hand-made perf.json: which figure each target takes,
// met and not met, and "not measured" when its variants did not run. Pure.

import { describe, expect, it } from 'vitest';
import type { RunFigures } from '../engine/figures.ts';
import { PERF_SCHEMA, perfTargetLines, perfTargets, renderPerf, type PerfReport, type PerfVariant } from './perf.ts';
import type { CompareRun } from './compare.ts';

const VARIANTS: PerfVariant[] = [
  { name: 'bare', what: 'bare subscriber', kind: 'capacity', aggregator: 'none' },
  { name: 'memory', what: 'memory dedup', kind: 'capacity', aggregator: 'reference' },
  { name: 'redis', what: 'redis dedup', kind: 'capacity', aggregator: 'reference' },
  { name: 'generator', what: 'generator capacity', kind: 'generator-capacity', aggregator: 'none' },
  { name: 'generator-10k', what: 'generator at 10000 ev/s', kind: 'generator-rate', aggregator: 'none' },
];

function run(variant: string, replicate: number, committed: number, cpu: Record<string, number>): CompareRun {
  const figures = { committed_per_s: committed, cpu_us_per_message: cpu } as Partial<RunFigures> as RunFigures;
  return { order: 0, variant, replicate, out_dir: `/x/${variant}-r${replicate}`, aggregator: variant === 'memory' || variant === 'redis' ? 'reference' : 'none', run_id: 'r', valid: true, invalid_reasons: [], passed: true, error: null, figures };
}

function perf(variants: PerfVariant[], runs: CompareRun[]): PerfReport {
  return { schema: PERF_SCHEMA, command: 'npm run perf', replicates: 2, duration_s: 10, concurrency: 1000, generator_rate: 10_000, variants, runs, machine: null, git_sha: 'abc', started_at: '2026-12-03T10:00:00Z', finished_at: '2026-12-03T10:10:00Z' };
}

describe('perf targets', () => {
  it('judges each target on its own figure: generator µs summed over the load workers, capacities per round against bare', () => {
    const report = perf(VARIANTS, [
      run('bare', 1, 10_000, { broker: 30 }),
      run('memory', 1, 9_500, { aggregator: 20 }),
      run('redis', 1, 7_000, { aggregator: 25 }),
      run('generator', 1, 30_000, { 'load worker 1': 20 }),
      run('generator-10k', 1, 10_000, { 'load worker 1': 4, 'load worker 2': 5, 'harness main thread': 3 }),
      run('bare', 2, 20_000, { broker: 30 }),
      run('memory', 2, 18_000, { aggregator: 20 }),
      run('redis', 2, 16_000, { aggregator: 25 }),
      run('generator', 2, 40_000, { 'load worker 1': 20 }),
      run('generator-10k', 2, 10_000, { 'load worker 1': 5, 'load worker 2': 6 }),
    ]);
    const targets = perfTargets(report);
    expect(targets.map((t) => [t.value === null ? null : Math.round(t.value * 1000) / 1000, t.met])).toEqual([
      [10, true], // (9 + 11) / 2 µs: the load workers only, not the main thread
      [2.545, true], // 35,000 / 13,750
      [0.925, true], // rounds 0.95 and 0.90
      [0.75, true], // rounds 0.70 and 0.80
      [null, null],
      [null, null],
    ]);
    const lines = perfTargetLines(report);
    expect(lines[0]).toBe("- generator CPU per message at 10,000 ev/s: 10.0 µs (target ≤ 10 µs) — met; the load worker threads' CPU µs per message, summed, median of the runs");
    expect(lines[4]).toMatch(/^- sqlite dedup capacity ÷ bare subscriber capacity: not measured \(target reported\);/);
    const table = renderPerf(report).split('\n').filter((line) => line.startsWith('| '));
    expect(table[0]).toContain('| variant | what | valid runs | committed ev/s median [min–max] | × bare (medians) | × bare per round median [min–max] | load worker 1 µs/msg | load worker 2 µs/msg |');
    expect(table[3]).toMatch(/^\| memory \| memory dedup \| 2\/2 \| 13750 \[9500–18000\] \| 0\.92× \| 0\.93× \[0\.90×–0\.95×\] \|/);
    expect(table[5]).toMatch(/^\| generator \| generator capacity \| 2\/2 \| 35000 \[30000–40000\] \| — \| — \|/);
  });

  it('says NOT MET below a bound, and not measured for a target whose variants did not run', () => {
    const report = perf(VARIANTS.slice(0, 2), [run('bare', 1, 10_000, {}), run('memory', 1, 8_000, {})]);
    const lines = perfTargetLines(report);
    expect(lines[0]).toMatch(/^- generator CPU per message at 10,000 ev\/s: not measured \(target ≤ 10 µs\);/);
    expect(lines[1]).toMatch(/: not measured \(target ≥ 2\);/);
    expect(lines[2]).toMatch(/^- memory dedup capacity ÷ bare subscriber capacity: 0\.80 \(target ≥ 0\.90\) — NOT MET;/);
    expect(lines[3]).toMatch(/^- redis dedup capacity ÷ bare subscriber capacity: not measured/);
  });
});
