// The campaign runner with a stand-in for runScenario (the fixture result.json, changed per run):
// the interleaved order, one directory per run with its result.json and report, a run that throws
// recorded without stopping the rest, a report that cannot be rendered only a warning, and the
// numbering of a campaign that continues another. No broker or aggregator starts here.

import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { RunOptions } from '../../engine/run.ts';
import type { RunResult } from '../../engine/result.ts';
import { resolveRun, type ResolvedRun } from '../../engine/resolve.ts';
import { interleave, runCampaign, type CampaignArm, type CampaignRun } from './campaign.ts';

const FIXTURE_TEXT = readFileSync(new URL('../../test-support/fixtures/dup-storm.result.json', import.meta.url), 'utf8');
const fixture = () => JSON.parse(FIXTURE_TEXT) as RunResult;

const dirs: string[] = [];
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'chaosbench-campaign-test-'));
  dirs.push(dir);
  return dir;
}

function resolved(dedup: string): ResolvedRun {
  const resolution = resolveRun({ scenario: 'dup-storm', flags: { dedup }, changes: [], broker: 'embedded', aggregator: 'reference' });
  if (!resolution.ok) throw new Error(resolution.problems.join('\n'));
  return resolution.run;
}

const arms: CampaignArm[] = [
  { label: 'memory', dir: 'memory', run: resolved('memory') },
  { label: 'sqlite', dir: 'sqlite', run: resolved('sqlite') },
  { label: 'none', dir: 'none', run: resolved('none') },
];

/** A stand-in run: the fixture with the run's own scenario and run id; throws or breaks its result where asked (by directory name). */
function fakeRun(options: { throws?: Record<string, string>; damaged?: string[] } = {}) {
  const calls: RunOptions[] = [];
  const run = async (o: RunOptions): Promise<RunResult> => {
    calls.push(o);
    o.progress?.('storm 3 s');
    const dir = o.out_dir.split('/').at(-1)!;
    const message = options.throws?.[dir];
    if (message) throw new Error(message);
    const result = fixture();
    result.scenario = o.scenario;
    result.overrides = o.overrides;
    result.run_id = `run-${dir}`;
    result.git_sha = `sha-${dir}`;
    if (options.damaged?.includes(dir)) result.phases[1]!.latency.histogram = 'not-a-histogram';
    return result;
  };
  return { run, calls };
}

describe('interleave', () => {
  it('runs every arm once per round: A B C A B C', () => {
    expect(interleave(['A', 'B', 'C'], 2).map((r) => `${r.arm}${r.replicate}`)).toEqual(['A1', 'B1', 'C1', 'A2', 'B2', 'C2']);
    expect(interleave(['A'], 0)).toEqual([]);
  });
});

describe('runCampaign', () => {
  it('runs the arms interleaved, each run into a directory of its own with result.json and report.md', async () => {
    const out = join(tempDir(), 'campaign');
    const { run, calls } = fakeRun();
    const done: CampaignRun[] = [];
    const progress: string[] = [];
    const { runs, machine, git_sha } = await runCampaign({ arms, replicates: 2, out_dir: out }, { run, done: (r) => done.push(r), progress: (line) => progress.push(line), live: false });
    const order = ['memory-r1', 'sqlite-r1', 'none-r1', 'memory-r2', 'sqlite-r2', 'none-r2'];
    expect(calls.map((c) => c.out_dir)).toEqual(order.map((dir) => join(out, dir)));
    expect(calls.map((c) => c.scenario.aggregator.dedup)).toEqual(['memory', 'sqlite', 'none', 'memory', 'sqlite', 'none']);
    // The resolved run reaches runScenario as it stands, its overrides with it (each report replays its run).
    expect(calls[1]).toMatchObject({ overrides: { dedup: 'sqlite' }, broker: 'embedded', sink: 'sqlite', aggregator: 'reference', live_latency: false });
    for (const dir of order) {
      expect((JSON.parse(readFileSync(join(out, dir, 'result.json'), 'utf8')) as RunResult).run_id).toBe(`run-${dir}`);
      expect(existsSync(join(out, dir, 'report.md'))).toBe(true);
    }
    expect(readFileSync(join(out, 'sqlite-r2', 'report.md'), 'utf8')).toContain('Replay: `npm run bench -- --scenario dup-storm --seed 42 --dedup sqlite`');
    expect(runs.map((r) => [r.order, r.arm.label, r.replicate, r.run_id, r.valid, r.error])).toEqual(
      order.map((dir, i) => [i + 1, dir.split('-')[0], Number(dir.at(-1)), `run-${dir}`, true, null]),
    );
    expect(runs[0]!.figures).toMatchObject({ committed_per_s: 997.7, p99_ms: 15.903 });
    expect(runs[0]!.passed).toBe(fixture().passed);
    expect(done).toEqual(runs);
    expect(progress.slice(0, 2)).toEqual(['[1/6] memory r1/2  storm 3 s', '[2/6] sqlite r1/2  storm 3 s']);
    expect(machine).toEqual(fixture().machine);
    expect(git_sha).toBe('sha-memory-r1');
  });

  it('records a run that throws as not completed and goes on with the rest', async () => {
    const out = tempDir();
    const { run, calls } = fakeRun({ throws: { 'memory-r1': 'broker unreachable' } });
    const { runs, git_sha } = await runCampaign({ arms: arms.slice(0, 2), replicates: 2, out_dir: out }, { run });
    expect(calls).toHaveLength(4);
    expect(runs[0]).toMatchObject({ order: 1, replicate: 1, run_id: null, valid: false, invalid_reasons: ['the run could not complete: broker unreachable'], passed: null, error: 'broker unreachable', figures: null });
    expect(existsSync(join(out, 'memory-r1', 'result.json'))).toBe(false);
    expect(runs.slice(1).map((r) => [r.arm.label, r.replicate, r.valid])).toEqual([
      ['sqlite', 1, true],
      ['memory', 2, true],
      ['sqlite', 2, true],
    ]);
    // The first run that completed gives the campaign its machine and commit.
    expect(git_sha).toBe('sha-sqlite-r1');
  });

  it('keeps result.json and warns when a report file cannot be rendered', async () => {
    const out = tempDir();
    const warnings: string[] = [];
    const { runs } = await runCampaign({ arms: arms.slice(0, 1), replicates: 1, out_dir: out }, { run: fakeRun({ damaged: ['memory-r1'] }).run, warn: (line) => warnings.push(line) });
    expect(runs[0]).toMatchObject({ valid: true, error: null });
    expect(existsSync(join(out, 'memory-r1', 'result.json'))).toBe(true);
    expect(warnings).toEqual([expect.stringMatching(/^warning: \[1\/1\] memory r1\/1: the report files could not be rendered \(.*\); result\.json is written$/)]);
  });

  it('continues the numbering of an earlier campaign, and makes no run without arms', async () => {
    const out = tempDir();
    const progress: string[] = [];
    const { runs } = await runCampaign({ arms: [{ ...arms[0]!, label: 'memory at 50%', dir: 'memory-at50' }], replicates: 2, out_dir: out, numbering: { first: 7, total: 8 } }, { run: fakeRun().run, progress: (line) => progress.push(line) });
    expect(runs.map((r) => [r.order, r.out_dir])).toEqual([
      [7, join(out, 'memory-at50-r1')],
      [8, join(out, 'memory-at50-r2')],
    ]);
    expect(progress).toEqual(['[7/8] memory at 50% r1/2  storm 3 s', '[8/8] memory at 50% r2/2  storm 3 s']);
    const none = fakeRun();
    expect((await runCampaign({ arms: [], replicates: 3, out_dir: out }, { run: none.run })).runs).toEqual([]);
    expect(none.calls).toEqual([]);
  });
});

describe('runCampaign: an interrupt (SIGINT/SIGTERM through deps.signal)', () => {
  it('hands the signal to the run under way, starts no run after it and says which signal stopped it', async () => {
    const out = tempDir();
    const controller = new AbortController();
    const { run, calls } = fakeRun();
    // The second run is interrupted while it runs: as runScenario does, it returns its partial result.
    const interrupting = async (o: RunOptions): Promise<RunResult> => {
      if (calls.length === 1) controller.abort('SIGINT');
      return run(o);
    };
    const outcome = await runCampaign({ arms, replicates: 2, out_dir: out }, { run: interrupting, signal: controller.signal });
    expect(calls.map((c) => c.out_dir.split('/').at(-1))).toEqual(['memory-r1', 'sqlite-r1']);
    expect(calls.every((c) => c.signal === controller.signal)).toBe(true);
    expect(outcome.runs).toHaveLength(2);
    expect(outcome.interrupted).toBe('SIGINT');
    // The run under way keeps its (partial) result.json; none was started after it.
    expect(existsSync(join(out, 'sqlite-r1', 'result.json'))).toBe(true);
    expect(existsSync(join(out, 'none-r1'))).toBe(false);
  });

  it('without a signal, or one never aborted, nothing is said about an interrupt', async () => {
    const outcome = await runCampaign({ arms, replicates: 1, out_dir: tempDir() }, { run: fakeRun().run, signal: new AbortController().signal });
    expect(outcome.runs).toHaveLength(3);
    expect(outcome.interrupted).toBeUndefined();
  });
});
