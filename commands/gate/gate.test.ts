// `npm run gate` without a broker: the argument parsing, the schedule and the exit codes, with a
// stand-in for runScenario that returns the fixture result with chosen p99s, losses and validity.

import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RunResult } from '../../engine/result.ts';
import type { RunOptions } from '../../engine/run.ts';
import { UsageError } from '../../cli/exit.ts';
import { parseGateArgs, runGate } from './gate.ts';
import { BASELINE_SCHEMA, type BaselineFile } from './baseline.ts';
import { promisedZero } from './verdict.ts';
import type { GateReport } from '../../reports/gate.ts';
import { NOTHING_LOST_NOTHING_DOUBLED } from '../../scenarios/defaults.ts';
import { tempDirs } from '../../test-support/temp-dirs.ts';

const FIXTURE_TEXT = readFileSync(new URL('../../test-support/fixtures/dup-storm.result.json', import.meta.url), 'utf8');
const fixture = () => JSON.parse(FIXTURE_TEXT) as RunResult;
const tempDir = tempDirs('gate');

interface Outcome {
  p99: number;
  lost?: number;
  lost_unacked?: number;
  never_sent?: number;
  valid?: boolean;
  throws?: string;
}

/** A stand-in run: the outcome per run directory name (baseline-r1, candidate-r2, pair1-A-r1, …). */
function fakeRun(outcome: (dir: string, options: RunOptions) => Outcome) {
  const calls: RunOptions[] = [];
  const run = async (options: RunOptions): Promise<RunResult> => {
    calls.push(options);
    const o = outcome(options.out_dir.split('/').at(-1)!, options);
    if (o.throws) throw new Error(o.throws);
    const result = fixture();
    result.scenario = options.scenario;
    result.latency.end_to_end.p99_ms = o.p99;
    result.totals.lost = o.lost ?? 0;
    result.totals.lost_unacked = o.lost_unacked ?? 0;
    result.totals.never_sent = o.never_sent ?? 0;
    result.valid = o.valid ?? true;
    result.invalid_reasons = result.valid ? [] : ['the generator fell behind its schedule'];
    return result;
  };
  return { run, calls };
}

const jitter = (r: number) => [1, 1.03, 0.97, 1.01, 0.99, 1.02][r % 6]!;
const replicateOf = (dir: string) => Number(/-r(\d+)$/.exec(dir)![1]);

async function plan(...argv: string[]) {
  return parseGateArgs(['--scenario', 'dup-storm', '--quiet', ...argv]);
}

describe('parseGateArgs', () => {
  it('builds the interleaved baseline from --baseline-set, applied after the shared --set', async () => {
    const p = await plan('--set', 'aggregator.batch_size=50', '--baseline-set', 'aggregator.batch_size=1', '--out', tempDir());
    expect(p.mode).toBe('interleaved');
    expect(p.candidate.run.scenario.aggregator.batch_size).toBe(50);
    expect(p.baseline!.run.scenario.aggregator.batch_size).toBe(1);
    expect(p.replicates).toBe(5);
    expect(p.metrics.map((m) => m.name)).toEqual(['p99_ms']);
  });

  it('names every problem at once', async () => {
    const error = await plan('--replicates', '1', '--metrics', 'p99,p42', '--baseline-set', 'aggregator.batch_size=-3').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    const message = (error as Error).message;
    expect(message).toContain('--replicates must be a whole number ≥ 2');
    expect(message).toContain("unknown metric 'p42'");
    expect(message).toContain('--baseline-set aggregator.batch_size=-3');
  });

  it('needs exactly one baseline', async () => {
    await expect(plan()).rejects.toThrow(/give a baseline/);
    await expect(plan('--aa', '3', '--baseline-set', 'aggregator.batch_size=1')).rejects.toThrow(/one baseline at a time/);
    await expect(plan('--baseline', join(tempDir(), 'missing.json'))).rejects.toThrow(/does not exist/);
  });

  it('knows what the scenario promises', () => {
    expect(promisedZero({ checks: [{ metric: 'lost', op: '==', value: 0 }] })).toEqual(['lost']);
    expect(promisedZero({ checks: [{ metric: 'lost', op: '<=', value: 10 }] })).toEqual([]);
    // The shipped scenarios' promise: every way an event can be missing is held to 0, not only 'lost'.
    expect(promisedZero({ checks: NOTHING_LOST_NOTHING_DOUBLED })).toEqual(['lost', 'lost_unacked', 'never_sent', 'sink_duplicates']);
  });
});

describe('runGate with a stand-in for runScenario', () => {
  it('interleaved: a 2× p99 is a regression (exit 1); the runs alternate B C B C', async () => {
    const out = tempDir();
    const p = await plan('--baseline-set', 'aggregator.batch_size=1', '--replicates', '4', '--out', out, '--summary', join(out, 'summary.md'));
    const { run, calls } = fakeRun((dir) => ({ p99: (dir.startsWith('candidate') ? 20 : 10) * jitter(replicateOf(dir)) }));
    const { report } = await runGate(p, { run });
    expect(calls.map((c) => c.out_dir.split('/').at(-1))).toEqual(['baseline-r1', 'candidate-r1', 'baseline-r2', 'candidate-r2', 'baseline-r3', 'candidate-r3', 'baseline-r4', 'candidate-r4']);
    expect(report.exit).toBe(1);
    expect(report.outcome).toBe('regression');
    expect(report.decisions[0]!.estimate).toBeCloseTo(2, 5);
    expect(readFileSync(join(out, 'summary.md'), 'utf8')).toContain('❌ regression');
    expect((JSON.parse(readFileSync(join(out, 'gate.json'), 'utf8')) as GateReport).exit).toBe(1);
    // gate.html beside gate.md: the verdict and exit code, the metric's two sides as bars with ranges.
    const html = readFileSync(join(out, 'gate.html'), 'utf8');
    expect(html).toContain('data-verdict="fail"');
    expect(html).toContain('data-exit="1"');
    expect([...html.matchAll(/<rect data-bar="([^"]+)" data-median="([\d.]+)"/g)].slice(0, 2).map((m) => [m[1], Math.round(Number(m[2]))])).toEqual([
      ['candidate with --set aggregator.batch_size=1', 10],
      ['this checkout', 20],
    ]);
  });

  it('interleaved: the same figures pass (exit 0)', async () => {
    const p = await plan('--baseline-set', 'aggregator.batch_size=1', '--replicates', '4', '--out', tempDir());
    const { run } = fakeRun((dir) => ({ p99: 10 * jitter(replicateOf(dir) + (dir.startsWith('candidate') ? 1 : 0)) }));
    const { report } = await runGate(p, { run });
    expect(report.decisions[0]!.verdict).toBe('no-change');
    expect(report.exit).toBe(0);
  });

  it('interleaved: a planted +2 % p99, clearly measurable, passes (exit 0): significant but within the 10 % floor', async () => {
    const p = await plan('--baseline-set', 'aggregator.batch_size=1', '--replicates', '5', '--out', tempDir());
    // Spread of ±0.3 %: every candidate run is slower than every baseline run (p = 2/252), so only the floor keeps it a pass.
    const tight = (r: number) => 1 + (jitter(r) - 1) / 10;
    const { run } = fakeRun((dir) => ({ p99: 20 * (dir.startsWith('candidate') ? 1.02 : 1) * tight(replicateOf(dir)) }));
    const { report, markdown } = await runGate(p, { run, loadAverage: () => 1.25 });
    const d = report.decisions[0]!;
    expect(d.p_value!).toBeLessThan(0.01);
    expect(d.estimate!).toBeCloseTo(1.02, 3);
    expect(d.verdict).toBe('no-change');
    expect(d.reason).toMatch(/within the 10% floor/);
    expect(report.exit).toBe(0);
    expect(markdown.split('\n')[0]).toMatch(/^✅ \*\*gate passed\*\*/);
    expect(report.runs.every((r) => r.load_avg_1m === 1.25)).toBe(true);
    expect(markdown).toContain('- machine load (1-min load average after each run, median [range]; the gate\'s own processes included): baseline 1.25 [1.25–1.25] · candidate 1.25 [1.25–1.25]');
  });

  it('a loss in a scenario that promises none fails outright, whatever the statistics', async () => {
    const p = await plan('--baseline-set', 'aggregator.batch_size=1', '--replicates', '3', '--out', tempDir());
    const { run } = fakeRun((dir) => ({ p99: 10, lost: dir === 'candidate-r2' ? 3 : 0 }));
    const { report, markdown } = await runGate(p, { run });
    expect(report.outcome).toBe('correctness-failure');
    expect(report.exit).toBe(1);
    expect(report.correctness.failures).toEqual([{ side: 'candidate', pair: 0, replicate: 2, metric: 'lost', actual: 3 }]);
    expect(markdown).toContain('candidate r2: lost = 3');
  });

  it('events the broker never acked, or the harness never sent, fail the correctness gate like lost ones', async () => {
    const p = await plan('--baseline-set', 'aggregator.batch_size=1', '--replicates', '3', '--out', tempDir());
    const { run } = fakeRun((dir) => ({ p99: 10, lost_unacked: dir === 'baseline-r1' ? 2 : 0, never_sent: dir === 'candidate-r3' ? 5 : 0 }));
    const { report, markdown } = await runGate(p, { run });
    expect(report.outcome).toBe('correctness-failure');
    expect(report.exit).toBe(1);
    expect(report.correctness.failures).toEqual([
      { side: 'baseline', pair: 0, replicate: 1, metric: 'lost_unacked', actual: 2 },
      { side: 'candidate', pair: 0, replicate: 3, metric: 'never_sent', actual: 5 },
    ]);
    expect(markdown).toContain('candidate r3: never_sent = 5');
  });

  it('invalid or failed runs → exit 3 with the reasons; high noise → exit 3', async () => {
    const p = await plan('--baseline-set', 'aggregator.batch_size=1', '--replicates', '3', '--out', tempDir());
    const { run } = fakeRun((dir) => (dir === 'baseline-r3' ? { p99: 10, throws: 'broker unreachable' } : { p99: 10, valid: dir !== 'candidate-r1' }));
    const { report } = await runGate(p, { run });
    expect(report.exit).toBe(3);
    expect(report.outcome).toBe('invalid');
    expect(report.message).toContain('the generator fell behind its schedule');
    expect(report.message).toContain('broker unreachable');

    const noisy = fakeRun((dir) => ({ p99: [5, 20, 9, 40][replicateOf(dir) - 1]! }));
    const q = await plan('--baseline-set', 'aggregator.batch_size=1', '--replicates', '4', '--out', tempDir());
    const second = await runGate(q, { run: noisy.run });
    expect(second.report.outcome).toBe('undecidable');
    expect(second.report.exit).toBe(3);
  });

  it('--update-baseline writes the replicates; --baseline compares against them', async () => {
    const out = tempDir();
    const file = join(out, 'baselines', 'dup-storm.json');
    const first = await plan('--baseline', file, '--update-baseline', '--replicates', '4', '--out', join(out, 'a'));
    const { run } = fakeRun((dir) => ({ p99: 10 * jitter(replicateOf(dir)) }));
    const written = await runGate(first, { run, loadAverage: () => 1.5 });
    expect(written.report.exit).toBe(0);
    expect(written.report.outcome).toBe('baseline-written');
    const stored = JSON.parse(readFileSync(file, 'utf8')) as BaselineFile;
    expect(stored.schema).toBe(BASELINE_SCHEMA);
    expect(stored.replicates).toHaveLength(4);
    expect(stored.git_sha).toBe(fixture().git_sha);
    expect(stored.machine).toEqual(fixture().machine);
    expect(stored.replicates.map((r) => r.load_avg_1m)).toEqual([1.5, 1.5, 1.5, 1.5]);

    const slower = fakeRun((dir) => ({ p99: 15 * jitter(replicateOf(dir)) }));
    const second = await runGate(await plan('--baseline', file, '--replicates', '4', '--out', join(out, 'b')), { run: slower.run, loadAverage: () => 1.5 });
    expect(second.report.outcome).toBe('regression');
    expect(second.report.notes).toEqual([]);
    expect(slower.calls).toHaveLength(4);
    const other = await runGate(await plan('--baseline', file, '--replicates', '4', '--rate', '300', '--out', join(out, 'c')), { run: slower.run, loadAverage: () => 1.5 });
    expect(other.report.notes[0]).toMatch(/measured with other flags/);

    // The same slower candidate on a busier machine: a busier machine would explain it → exit 3, not 1.
    // The fixture's machine has 2 cores: +1.2 per core > the 0.5 limit.
    const busier = await runGate(await plan('--baseline', file, '--replicates', '4', '--out', join(out, 'd')), { run: slower.run, loadAverage: () => 3.9 });
    expect(busier.report.outcome).toBe('undecidable');
    expect(busier.report.exit).toBe(3);
    expect(busier.report.decisions[0]!.verdict).toBe('regression');
    expect(busier.report.message).toMatch(/^the machine was busier than when the baseline was written \(1-min load average 3\.90 during the candidate runs against 1\.50 .* \+1\.20 per core, beyond ±0\.5\).*\(the statistics alone: p99_ms regression\)$/);
    expect(busier.markdown).toContain('machine load (1-min load average after each run, median [range]; the gate\'s own processes included): baseline 1.50 [1.50–1.50] · candidate 3.90 [3.90–3.90]');
    // An unchanged candidate on a much quieter machine could hide a regression → exit 3; on the same load, a pass.
    const same = fakeRun((dir) => ({ p99: 10 * jitter(replicateOf(dir)) }));
    const quieter = await runGate(await plan('--baseline', file, '--replicates', '4', '--out', join(out, 'e')), { run: same.run, loadAverage: () => 0.2 });
    expect(quieter.report.exit).toBe(3);
    expect(quieter.report.message).toMatch(/quieter/);
    const steady = await runGate(await plan('--baseline', file, '--replicates', '4', '--out', join(out, 'f')), { run: same.run, loadAverage: () => 1.9 });
    expect(steady.report.exit).toBe(0);
    // Interleaved runs share the moment: no load rule there.
    const interleaved = await runGate(await plan('--baseline-set', 'aggregator.batch_size=1', '--replicates', '4', '--out', join(out, 'g')), { run: slower.run, loadAverage: () => 9 });
    expect(interleaved.report.exit).toBe(0);

    // A baseline of another scenario is bad input.
    writeFileSync(file, JSON.stringify({ ...stored, scenario: 'smoke' }));
    await expect(plan('--baseline', file)).rejects.toThrow(/baseline of scenario 'smoke'/);
  });

  it('--update-baseline on a busy machine or with spread runs writes the file and says why it is a poor yardstick', async () => {
    const out = tempDir();
    const file = join(out, 'b.json');
    const quiet = await runGate(await plan('--baseline', file, '--update-baseline', '--replicates', '4', '--out', join(out, 'a')), { run: fakeRun((dir) => ({ p99: 10 * jitter(replicateOf(dir)) })).run, loadAverage: () => 1.2 });
    expect(quiet.report.notes).toEqual([]);
    const busy = await runGate(await plan('--baseline', file, '--update-baseline', '--replicates', '4', '--out', join(out, 'b')), { run: fakeRun((dir) => ({ p99: [10, 14, 9, 20][replicateOf(dir) - 1]! })).run, loadAverage: () => 3.1 });
    expect(busy.report.outcome).toBe('baseline-written');
    expect(busy.report.notes).toEqual([
      expect.stringMatching(/^this baseline was written on a busy machine \(1-min load average 3\.10 on 2 cores/),
      expect.stringMatching(/^the p99_ms of this baseline's runs spread widely \(CV [\d.]+%\)/),
    ]);
    expect(busy.markdown).toContain('⚠️ this baseline was written on a busy machine');
  });

  it('--update-baseline with an invalid run writes nothing (exit 3)', async () => {
    const out = tempDir();
    const file = join(out, 'b.json');
    const p = await plan('--baseline', file, '--update-baseline', '--replicates', '2', '--out', join(out, 'a'));
    const { run } = fakeRun(() => ({ p99: 10, valid: false }));
    expect((await runGate(p, { run })).report.exit).toBe(3);
    expect(existsSync(file)).toBe(false);
  });

  it('--aa N: N pairs of A B A B …, and the false-positive rate', async () => {
    const p = await plan('--aa', '3', '--replicates', '2', '--out', tempDir());
    // Pair 2's B group is much slower: one false positive of three.
    const { run, calls } = fakeRun((dir) => ({ p99: dir.startsWith('pair2-B') ? 30 * jitter(replicateOf(dir)) : 10 * jitter(replicateOf(dir)) }));
    const { report, markdown } = await runGate(p, { run });
    expect(calls.slice(0, 4).map((c) => c.out_dir.split('/').at(-1))).toEqual(['pair1-A-r1', 'pair1-B-r1', 'pair1-A-r2', 'pair1-B-r2']);
    expect(calls).toHaveLength(12);
    expect(report.exit).toBe(0);
    // 2 vs 2 can never reach p ≤ 0.1 with Mann-Whitney (smallest two-sided p = 1/3): no regression.
    expect(report.aa!.pairs).toBe(3);
    expect(report.aa!.regressions).toBe(0);
    expect(markdown).toMatch(/A\/A: 0 false regressions in 3 pairs = false-positive rate 0%/);
  });
});
