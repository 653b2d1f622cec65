// `npm run perf` for real and short (the suite's smoke test of a benchmark, no timing asserted): one
// replicate of 2-s runs of the bare subscriber and memory dedup, as a user runs it, then each again
// at half its capacity; both tables and perf.json hold real numbers, and the targets whose variants
// did not run say "not measured".

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import type { PerfReport } from '../../reports/perf.ts';
import { tempDir } from '../../test-support/temp-dirs.ts';
import { runChaosbench } from '../../test-support/run-command.ts';

const out = tempDir('perf-run');

it('runs bare and memory once each and prints capacity, the ratio to bare and CPU µs per message of every process, then p99 and CPU at half capacity', { timeout: 240_000 }, async () => {
  const outcome = await runChaosbench('perf', ['--replicates', '1', '--duration', '2s', '--variants', 'bare,memory', '--out', out, '--quiet'], { timeout_ms: 230_000 });
  expect(outcome.code, outcome.stderr).toBe(0);
  const report = JSON.parse(readFileSync(join(out, 'perf.json'), 'utf8')) as PerfReport;
  expect(report.runs.map((r) => r.variant)).toEqual(['bare', 'memory']);
  for (const run of report.runs) {
    expect(run.error).toBeNull();
    expect(run.figures!.committed_per_s).toBeGreaterThan(0);
    const cpu = run.figures!.cpu_us_per_message!;
    expect(Object.keys(cpu)).toEqual(expect.arrayContaining(['harness main thread', 'load worker 1', 'broker', run.variant === 'bare' ? 'bare subscriber' : 'aggregator']));
    for (const us of Object.values(cpu)) expect(us).toBeGreaterThan(0);
  }
  const row = (name: string) => outcome.stdout.split('\n').find((line) => line.startsWith(`| ${name} |`) || line.startsWith(`| ⚠ ${name} |`))!;
  // capacity median [min–max], the ratio to bare, then a µs figure per process.
  const us = /(?<= )[\d.]+ \[[\d.]+–[\d.]+\](?= \|)/g;
  expect(row('bare')).toMatch(/\| \d+ \[\d+–\d+\] \| 1\.00× \| — \|( ([\d.]+ \[[\d.]+–[\d.]+\]|—) \|)+$/);
  expect(row('memory')).toMatch(/\| \d+ \[\d+–\d+\] \| \d\.\d\d× \| \d\.\d\d× \[[\d.×–]+\] \|( ([\d.]+ \[[\d.]+–[\d.]+\]|—) \|)+$/);
  // Capacity, then a µs figure for the load worker, the main thread, the broker, the consumer and the harness as a whole.
  for (const name of ['bare', 'memory']) expect(row(name).match(us)?.length, row(name)).toBe(6);
  expect(outcome.stdout).toMatch(/^- memory dedup capacity ÷ bare subscriber capacity: \d\.\d\d \(target ≥ 0\.90\) — (met|NOT MET)/m);
  expect(outcome.stdout).toMatch(/^- redis dedup capacity ÷ bare subscriber capacity: not measured/m);
  expect(outcome.stdout).toMatch(/^- generator CPU per message at 10,000 ev\/s: not measured/m);
  expect(readFileSync(join(out, 'perf.md'), 'utf8')).toContain('| variant | what |');

  // The second pass: each variant in the open model at half its capacity (one replicate: the capacity is that run's).
  const at = report.at_capacity!;
  expect(at.fraction).toBe(0.5);
  expect(at.skipped).toEqual([]);
  expect(at.runs.map((r) => r.variant)).toEqual(['bare', 'memory']);
  for (const run of at.runs) {
    const capacity = report.runs.find((r) => r.variant === run.variant)!.figures!.committed_per_s;
    const rate = at.rates.find((r) => r.variant === run.variant)!;
    expect(rate).toEqual({ variant: run.variant, capacity_per_s: capacity, rate_per_s: Math.round(capacity / 2) });
    expect(run.error).toBeNull();
    expect(run.figures!.target_per_s).toBe(rate.rate_per_s);
    expect(run.figures!.committed_per_s).toBeGreaterThan(0);
    // The bare subscriber commits nothing: no end-to-end latency; the aggregator's is real.
    if (run.variant === 'bare') expect(run.figures!.p99_ms).toBeNull();
    else expect(run.figures!.p99_ms).toBeGreaterThan(0);
    for (const us of Object.values(run.figures!.cpu_us_per_message!)) expect(us).toBeGreaterThan(0);
  }
  const [bareAt, memoryAt] = at.rates.map((r) => r.rate_per_s);
  // variant | rate (of capacity) | valid runs | p99 median [min–max] | a µs figure per process
  const atRow = (name: string) => outcome.stdout.split('\n').filter((line) => line.startsWith(`| ${name} |`) || line.startsWith(`| ⚠ ${name} |`))[1]!;
  expect(atRow('bare')).toMatch(new RegExp(`^\\| (⚠ )?bare \\| ${bareAt} \\(of \\d+\\) \\| [01]/1 \\| — \\|`));
  expect(atRow('memory')).toMatch(new RegExp(`^\\| (⚠ )?memory \\| ${memoryAt} \\(of \\d+\\) \\| [01]/1 \\| [\\d.]+ \\[[\\d.]+–[\\d.]+\\] \\|`));
  for (const name of ['bare', 'memory']) expect(atRow(name).match(us)?.length, atRow(name)).toBe(name === 'bare' ? 5 : 6);
});

it('exits 2 naming the flag for a bad replicate count or an unknown variant, running nothing', async () => {
  const outcome = await runChaosbench('perf', ['--replicates', '0', '--variants', 'bare,nope', '--at-capacity', '1.5']);
  expect(outcome.code).toBe(2);
  expect(outcome.stderr).toContain("--at-capacity must be a fraction in (0, 1] like 0.5, or off, got '1.5'");
  expect(outcome.stderr).toContain("--replicates must be an integer >= 1, got '0'");
  expect(outcome.stderr).toContain("--variants: unknown variant 'nope'");
  expect(outcome.stderr).not.toMatch(/\n\s+at /);
});
