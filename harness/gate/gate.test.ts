// `npm run gate` without a broker: the argument parsing, the schedule and the exit codes, with a
// stand-in for runScenario that returns the fixture result with chosen p99s, losses and validity.

import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { RunResult } from '../result.ts';
import type { RunOptions } from '../run.ts';
import { UsageError } from '../cli.ts';
import { BASELINE_SCHEMA, parseGateArgs, promisedZero, runGate, type BaselineFile } from './gate.ts';
import type { GateReport } from '../../reports/gate.ts';

const FIXTURE_TEXT = readFileSync(new URL('../../reports/fixtures/dup-storm.result.json', import.meta.url), 'utf8');
const fixture = () => JSON.parse(FIXTURE_TEXT) as RunResult;
const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'chaosbench-gate-'));
  dirs.push(dir);
  return dir;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

interface Outcome {
  p99: number;
  lost?: number;
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
    expect(p.candidate.bench.scenario.aggregator.batch_size).toBe(50);
    expect(p.baseline!.bench.scenario.aggregator.batch_size).toBe(1);
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
  });

  it('interleaved: the same figures pass (exit 0)', async () => {
    const p = await plan('--baseline-set', 'aggregator.batch_size=1', '--replicates', '4', '--out', tempDir());
    const { run } = fakeRun((dir) => ({ p99: 10 * jitter(replicateOf(dir) + (dir.startsWith('candidate') ? 1 : 0)) }));
    const { report } = await runGate(p, { run });
    expect(report.decisions[0]!.verdict).toBe('no-change');
    expect(report.exit).toBe(0);
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
    const written = await runGate(first, { run });
    expect(written.report.exit).toBe(0);
    expect(written.report.outcome).toBe('baseline-written');
    const stored = JSON.parse(readFileSync(file, 'utf8')) as BaselineFile;
    expect(stored.schema).toBe(BASELINE_SCHEMA);
    expect(stored.replicates).toHaveLength(4);
    expect(stored.git_sha).toBe(fixture().git_sha);
    expect(stored.machine).toEqual(fixture().machine);

    const slower = fakeRun((dir) => ({ p99: 15 * jitter(replicateOf(dir)) }));
    const second = await runGate(await plan('--baseline', file, '--replicates', '4', '--out', join(out, 'b')), { run: slower.run });
    expect(second.report.outcome).toBe('regression');
    expect(second.report.notes).toEqual([]);
    expect(slower.calls).toHaveLength(4);
    const other = await runGate(await plan('--baseline', file, '--replicates', '4', '--rate', '300', '--out', join(out, 'c')), { run: slower.run });
    expect(other.report.notes[0]).toMatch(/measured with other flags/);

    // A baseline of another scenario is bad input.
    writeFileSync(file, JSON.stringify({ ...stored, scenario: 'smoke' }));
    await expect(plan('--baseline', file)).rejects.toThrow(/baseline of scenario 'smoke'/);
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
