// `npm run compare` without running anything: the axis and variant building, the flag checks
// (every problem named at once, before any run), and the orchestration (the campaign runner's
// interleaved runs, the at-capacity second stage) with a stand-in for runScenario. No broker or aggregator starts here (compare-run.test.ts does that).

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { dupStorm } from '../../scenarios/shipped/dup-storm.ts';
import { COMPARE_SCHEMA, type CompareReport } from '../../reports/compare.ts';
import { atRate, buildAxis, capacityRates, main, parseCompareArgs, runCompare, uniqueNames, uniqueSlugs, variantRequest, type ComparePlan } from './compare.ts';
import { CampaignInterrupted } from '../campaign/campaign.ts';
import type { RunRequest } from '../../engine/resolve.ts';
import { UsageError } from '../../cli/exit.ts';
import type { RunOptions } from '../../engine/run.ts';
import type { RunResult } from '../../engine/result.ts';
import { tempDirs } from '../../test-support/temp-dirs.ts';
import { fakeRun } from '../../test-support/campaign-fixtures.ts';

const FIXTURE_TEXT = readFileSync(new URL('../../test-support/fixtures/dup-storm.result.json', import.meta.url), 'utf8');
const fixture = () => JSON.parse(FIXTURE_TEXT) as RunResult;

const tempDir = tempDirs('compare-test');

async function plan(...argv: string[]): Promise<ComparePlan> {
  const parsed = await parseCompareArgs(argv);
  if (parsed === 'listed') throw new Error('listed');
  return parsed;
}

async function usageError(...argv: string[]): Promise<string> {
  try {
    await parseCompareArgs(argv);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error(`no error for ${argv.join(' ')}`);
}

describe('variant names', () => {
  it('makes repeated values unique (an A/A comparison) and gives each a distinct directory', () => {
    expect(uniqueNames(['sqlite', 'sqlite', 'memory', 'sqlite'])).toEqual(['sqlite', 'sqlite#2', 'memory', 'sqlite#3']);
    expect(uniqueSlugs(['a|b', 'a/b', 'sqlite:/tmp/x.db'])).toEqual(['a_b', 'a_b-2', 'sqlite_tmp_x.db']);
  });
});

describe('buildAxis', () => {
  it('makes one variant per value of the one axis given', () => {
    const { axis, problems } = buildAxis({ vary: ['aggregator.batch_size=1,10,100'] });
    expect(problems).toEqual([]);
    expect(axis.flag).toBe('--vary');
    expect(axis.field).toBe('aggregator.batch_size');
    expect(axis.variants.map((v) => [v.name, v.flags, v.changes])).toEqual([
      ['batch_size=1', {}, [{ path: 'aggregator.batch_size', value: 1, flag: 'vary' }]],
      ['batch_size=10', {}, [{ path: 'aggregator.batch_size', value: 10, flag: 'vary' }]],
      ['batch_size=100', {}, [{ path: 'aggregator.batch_size', value: 100, flag: 'vary' }]],
    ]);
    const bare = buildAxis({ aggregator: ['reference,none'] }).axis;
    expect(bare.variants.map((v) => [v.name, v.aggregator])).toEqual([
      ['reference', 'reference'],
      ['bare', 'none'],
    ]);
  });

  it('refuses no axis, several axes, and a --vary without path=values', () => {
    expect(() => buildAxis({})).toThrow(/nothing to compare/);
    expect(() => buildAxis({ dedup: ['memory'], vary: ['aggregator.batch_size=1'] })).toThrow(/one axis at a time: got --dedup and --vary/);
    expect(() => buildAxis({ vary: ['aggregator.batch_size=1', 'phases[1].rate=2'] })).toThrow(/one axis at a time: --vary was given 2 times/);
    expect(() => buildAxis({ vary: ['aggregator.batch_size'] })).toThrow(/--vary expects path=v1,v2/);
    expect(() => buildAxis({ vary: ['phases[x]=1'] })).toThrow(/--vary: 'phases\[x\]' is not a field path/);
  });

  it("takes 'bare' on the --dedup axis as the bare subscriber, so stores can be compared with their ceiling", () => {
    const { axis } = buildAxis({ dedup: ['bare,memory,redis'] });
    expect(axis.variants.map((v) => [v.name, v.aggregator, v.flags, v.changes])).toEqual([
      ['bare', 'none', {}, []],
      ['memory', 'reference', { dedup: 'memory' }, []],
      ['redis', 'reference', { dedup: 'redis' }, []],
    ]);
  });

  it('returns an unknown --aggregator value as a problem and keeps the others', () => {
    const { axis, problems } = buildAxis({ aggregator: ['reference,foo,bare'] });
    expect(axis.variants.map((v) => v.name)).toEqual(['reference', 'bare']);
    expect(problems).toEqual([expect.stringContaining("--aggregator: unknown value 'foo'")]);
  });
});

describe('variantRequest', () => {
  it("puts the variant's flags over the shared ones and its changes after the shared --set", () => {
    const common: RunRequest = { scenario: 'dup-storm', flags: { rate: '700', dedup: 'none' }, changes: [{ path: 'aggregator.batch_wait_ms', value: 9 }], broker: 'embedded', aggregator: 'reference' };
    expect(variantRequest(common, { aggregator: 'reference', flags: { dedup: 'memory' }, changes: [{ path: 'aggregator.batch_size', value: 5, flag: 'vary' }] })).toEqual({
      ...common,
      flags: { rate: '700', dedup: 'memory' },
      changes: [{ path: 'aggregator.batch_wait_ms', value: 9 }, { path: 'aggregator.batch_size', value: 5, flag: 'vary' }],
    });
    expect(common.flags.dedup).toBe('none'); // the shared request is left alone
  });
});

describe('parseCompareArgs', () => {
  it('--vary aggregator.batch_size=1,10,100 makes three scenarios differing only there', async () => {
    const p = await plan('--scenario', 'dup-storm', '--vary', 'aggregator.batch_size=1,10,100', '--duration', '5s', '--replicates', '2');
    expect(p.variants.map((v) => v.run.scenario.aggregator.batch_size)).toEqual([1, 10, 100]);
    for (const v of p.variants) {
      expect({ ...v.run.scenario, aggregator: { ...v.run.scenario.aggregator, batch_size: 0 } }).toEqual(
        { ...p.variants[0]!.run.scenario, aggregator: { ...p.variants[0]!.run.scenario.aggregator, batch_size: 0 } },
      );
      expect(v.run.scenario.phases[1]!.duration_s).toBe(5);
    }
    expect(p.replicates).toBe(2);
    expect(p.axis).toEqual({ flag: '--vary', field: 'aggregator.batch_size' });
    expect(p.scenario).toBe('dup-storm');
    expect(p.seed).toBe(dupStorm.seed);
    expect(p.out_dir).toMatch(/reports\/out\/\d{8}T\d{6}-compare-dup-storm$/);
    expect(p.load).toBe('storm 1000/s for 5 s (after 2 s of warm-up)');
    expect(p.command).toBe('npm run compare -- --scenario dup-storm --vary aggregator.batch_size=1,10,100 --duration 5s --replicates 2');
  });

  it('--dedup sets each variant’s store; the common flags reach every variant', async () => {
    const p = await plan('--scenario', 'dup-storm', '--dedup', 'memory,sqlite,none', '--rate', '700', '--seed', '7', '--set', 'aggregator.batch_wait_ms=9', '--out', '/tmp/x');
    expect(p.variants.map((v) => [v.name, v.run.scenario.aggregator.dedup, v.aggregator])).toEqual([
      ['memory', 'memory', 'reference'],
      ['sqlite', 'sqlite', 'reference'],
      ['none', 'none', 'reference'],
    ]);
    for (const v of p.variants) {
      expect(v.run.scenario.seed).toBe(7);
      expect(v.run.scenario.phases[1]!.rate).toBe(700);
      expect(v.run.scenario.aggregator.batch_wait_ms).toBe(9);
    }
    expect(p.out_dir).toBe('/tmp/x');
    expect(p.replicates).toBe(3);
  });

  it('--aggregator reference,none compares with the bare subscriber', async () => {
    const p = await plan('--scenario', 'dup-storm', '--aggregator', 'reference,none');
    expect(p.variants.map((v) => [v.name, v.aggregator])).toEqual([
      ['reference', 'reference'],
      ['bare', 'none'],
    ]);
  });

  it('--dedup memory,nope is bad input naming the flag, the field and the value', async () => {
    const message = await usageError('--scenario', 'dup-storm', '--dedup', 'memory,nope');
    expect(message).toContain("variant 'nope' (--dedup nope): scenario 'dup-storm' is invalid after overrides:\n  --dedup: aggregator.dedup: unknown dedup store 'nope'");
    expect(message).not.toContain("'memory'");
  });

  it('names every problem at once: common flags once, each bad variant with its field', async () => {
    const message = await usageError('--scenario', 'dup-storm', '--vary', 'aggregator.batch_size=1,-1,abc', '--rate', 'x', '--replicates', '0');
    const problems = message.split('\nerror: ');
    expect(problems).toHaveLength(4);
    expect(problems[0]).toMatch(/--replicates must be a whole number ≥ 1/);
    expect(problems.filter((p) => p.includes("--rate must be events/s"))).toHaveLength(1);
    expect(message).toMatch(/variant 'batch_size=-1' \(--vary aggregator.batch_size=-1\): .*\n\s+aggregator.batch_size must be a positive integer, got -1/);
    expect(message).toMatch(/variant 'batch_size=abc' \(--vary aggregator.batch_size=abc\): .*\n\s+aggregator.batch_size must be a number/);
  });

  it('refuses two axes, no axis, an unknown scenario and unknown flags', async () => {
    expect(await usageError('--scenario', 'dup-storm', '--dedup', 'memory', '--aggregator', 'reference,none')).toMatch(/one axis at a time: got --dedup and --aggregator/);
    expect(await usageError('--scenario', 'dup-storm')).toMatch(/nothing to compare/);
    expect(await usageError('--scenario', 'nope', '--dedup', 'memory,sqlite')).toMatch(/^--scenario: unknown scenario 'nope'/);
    expect(await usageError('--scenario', 'dup-storm', '--dedup', 'memory', '--bogus', '1')).toMatch(/bogus/);
  });

  it('exits 2 with the message on stderr, before running anything', async () => {
    const writes: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      writes.push(String(chunk));
      return true;
    });
    try {
      expect(await main(['--scenario', 'dup-storm', '--dedup', 'memory,nope'])).toBe(2);
    } finally {
      spy.mockRestore();
    }
    expect(writes.join('')).toMatch(/^error: variant 'nope' \(--dedup nope\)/);
    expect(writes.join('')).not.toContain('chaosbench compare:');
  });
});

describe('runCompare with a stand-in for runScenario', () => {
  it('interrupted (SIGTERM during the second run): throws CampaignInterrupted (exit 143, one line), starts no other run, writes no compare file', async () => {
    const out = tempDir();
    const p = await plan('--scenario', 'dup-storm', '--dedup', 'memory,sqlite', '--replicates', '2', '--out', out);
    const { run, calls } = fakeRun({ 'memory-r1': { committed: 1000 }, 'sqlite-r1': { committed: 800 } });
    const controller = new AbortController();
    const interrupting = async (options: RunOptions) => {
      if (calls.length === 1) controller.abort('SIGTERM');
      return run(options);
    };
    const error = await runCompare(p, { run: interrupting, signal: controller.signal }).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(CampaignInterrupted);
    expect((error as CampaignInterrupted).exit).toBe(143);
    expect((error as Error).message).toBe(`interrupted by SIGTERM after 2 of 4 runs (the run under way stopped and removed its keys and schema): compare.md not written; the runs' results are in ${out}`);
    expect(calls).toHaveLength(2);
    for (const name of ['compare.json', 'compare.md', 'compare.html']) expect(existsSync(join(out, name))).toBe(false);
  });

  it('runs the variants interleaved, each into its own directory, and writes compare.json and compare.md', async () => {
    const out = tempDir();
    const p = await plan('--scenario', 'dup-storm', '--dedup', 'memory,sqlite,none', '--replicates', '2', '--out', out);
    const { run, calls } = fakeRun({
      'memory-r1': { committed: 1000 },
      'sqlite-r1': { committed: 800 },
      'none-r1': { committed: 1200 },
      'memory-r2': { committed: 1000 },
      'sqlite-r2': { committed: 600 },
      'none-r2': { committed: 1200 },
    });
    const lines: string[] = [];
    const { report, exit } = await runCompare(p, { run, log: (line) => lines.push(line) });
    expect(exit).toBe(0);
    expect(calls.map((c) => c.out_dir)).toEqual(['memory-r1', 'sqlite-r1', 'none-r1', 'memory-r2', 'sqlite-r2', 'none-r2'].map((d) => join(out, d)));
    expect(calls.map((c) => c.scenario.aggregator.dedup)).toEqual(['memory', 'sqlite', 'none', 'memory', 'sqlite', 'none']);
    expect(calls[4]!.overrides).toEqual({ dedup: 'sqlite' });
    expect(readFileSync(join(out, 'sqlite-r2', 'report.md'), 'utf8')).toContain('Replay: `npm run bench -- --scenario dup-storm --seed 42 --dedup sqlite`');
    for (const c of calls) {
      expect(existsSync(join(c.out_dir, 'result.json'))).toBe(true);
      expect(existsSync(join(c.out_dir, 'report.md'))).toBe(true);
    }
    // One progress line per run, after the plan line.
    expect(lines).toHaveLength(7);
    expect(lines[0]).toMatch(/^chaosbench compare: dup-storm · 3 variants by --dedup \(memory, sqlite, none\) × 2 replicates = 6 runs, interleaved/);
    expect(lines[2]).toBe('[2/6] sqlite r1/2  committed 800 ev/s  p99 15.9 ms  valid');

    const json = JSON.parse(readFileSync(join(out, 'compare.json'), 'utf8')) as CompareReport & { summary: { name: string; throughput_ratio: number }[] };
    expect(json.schema).toBe(COMPARE_SCHEMA);
    expect(json.runs).toHaveLength(6);
    expect(json.runs.map((r) => `${r.variant}-r${r.replicate}`)).toEqual(['memory-r1', 'sqlite-r1', 'none-r1', 'memory-r2', 'sqlite-r2', 'none-r2']);
    expect(json.summary.map((s) => [s.name, s.throughput_ratio])).toEqual([
      ['memory', 1],
      ['sqlite', 0.7],
      ['none', 1.2],
    ]);
    expect(json.machine).toEqual(fixture().machine);
    expect(report.runs).toEqual(json.runs);
    // compare.html beside compare.md: committed ev/s per variant as bars (median) with ranges.
    const html = readFileSync(join(out, 'compare.html'), 'utf8');
    expect(html).toContain('data-verdict="pass"');
    expect([...html.matchAll(/<rect data-bar="([^"]+)" data-median="([\d.]+)"/g)].slice(0, 3).map((m) => [m[1], Number(m[2])])).toEqual([
      ['memory', 1000],
      ['sqlite', 700],
      ['none', 1200],
    ]);
    const md = readFileSync(join(out, 'compare.md'), 'utf8');
    expect(md).toContain('| sqlite | 2/2 | 700 [600–800] | 0.70× |');
  });

  it('exits 3 when a run is invalid or does not complete, and goes on with the others', async () => {
    const out = tempDir();
    const p = await plan('--scenario', 'dup-storm', '--aggregator', 'reference,none', '--replicates', '2', '--out', out);
    const { run, calls } = fakeRun({
      'reference-r1': { committed: 1000 },
      'bare-r1': { committed: 5000, valid: false },
      'reference-r2': { committed: 1000, throws: 'broker unreachable' },
      'bare-r2': { committed: 5200 },
    });
    const lines: string[] = [];
    const { report, exit } = await runCompare(p, { run, log: (line) => lines.push(line) });
    expect(exit).toBe(3);
    expect(calls.map((c) => c.aggregator)).toEqual(['reference', 'none', 'reference', 'none']);
    expect(lines[2]).toBe('[2/4] bare r1/2  committed 5000 ev/s  p99 —  INVALID: the generator fell behind its schedule');
    expect(lines[3]).toBe('[3/4] reference r2/2  error: broker unreachable');
    expect(report.runs[2]).toMatchObject({ error: 'broker unreachable', figures: null, valid: false, passed: null });
    expect(existsSync(join(out, 'reference-r2', 'result.json'))).toBe(false);
    const md = readFileSync(join(out, 'compare.md'), 'utf8');
    expect(md.split('\n')[0]).toBe('**2 of 4 runs INVALID** — bare r1, reference r2; their variants are marked ⚠');
    expect(md).toContain('| ⚠ reference | 1/2 |');
    expect(md).toContain('| ⚠ bare | 1/2 | 5100 [5000–5200] | 5.10× |');
  });

  it('exits 1 when a run lost events, also when another run is invalid, and names the run first in compare.md', async () => {
    const out = tempDir();
    const p = await plan('--scenario', 'dup-storm', '--aggregator', 'reference,none', '--replicates', '1', '--out', out);
    const { run } = fakeRun({ 'reference-r1': { committed: 1000, lost: 12, valid: false }, 'bare-r1': { committed: 5000, valid: false } });
    const lines: string[] = [];
    const { report, exit } = await runCompare(p, { run, log: (line) => lines.push(line) });
    expect(exit).toBe(1);
    expect(report.runs[0]!.lost_events).toEqual(['lost == 0 (was 12)']);
    expect(report.runs[1]!.lost_events).toEqual([]);
    expect(lines[1]).toContain('LOST EVENTS: lost == 0 (was 12)  INVALID: the generator fell behind its schedule');
    const md = readFileSync(join(out, 'compare.md'), 'utf8').split('\n');
    expect(md[0]).toBe('**1 of 2 runs LOST EVENTS** — reference r1: lost == 0 (was 12)');
    expect(md[2]).toBe('**2 of 2 runs INVALID** — reference r1, bare r1; their variants are marked ⚠');
  });

  it('--at-capacity 0.5: after the capacity runs, each store runs open-model at half its own median capacity; the bare subscriber does not', async () => {
    const out = tempDir();
    const p = await plan('--scenario', 'dup-storm', '--dedup', 'bare,memory,redis', '--model', 'closed', '--concurrency', '500', '--replicates', '2', '--at-capacity', '0.5', '--out', out);
    expect(p.at_capacity).toBe(0.5);
    const { run, calls } = fakeRun({
      'bare-r1': { committed: 10_000 },
      'memory-r1': { committed: 8_000 },
      'redis-r1': { committed: 6_000 },
      'bare-r2': { committed: 10_400 },
      'memory-r2': { committed: 8_400 },
      'redis-r2': { committed: 6_400 },
      'memory-at50-r1': { committed: 4_100 },
      'redis-at50-r1': { committed: 3_100 },
      'memory-at50-r2': { committed: 4_100 },
      'redis-at50-r2': { committed: 3_100, valid: false },
    });
    const lines: string[] = [];
    const { report, exit } = await runCompare(p, { run, log: (line) => lines.push(line) });
    expect(exit).toBe(3);
    const second = calls.slice(6);
    expect(second.map((c) => c.out_dir.split('/').at(-1))).toEqual(['memory-at50-r1', 'redis-at50-r1', 'memory-at50-r2', 'redis-at50-r2']);
    // Half of each variant's own median capacity, in the open model, every measured phase.
    expect(second.map((c) => c.scenario.load.model)).toEqual(['open', 'open', 'open', 'open']);
    expect(second.map((c) => c.scenario.phases[1]!.rate)).toEqual([4_100, 3_100, 4_100, 3_100]);
    // The warm-up runs at the measured rate too, so the measured phase does not start with a step.
    expect(second.map((c) => c.scenario.phases[0]!.rate)).toEqual([4_100, 3_100, 4_100, 3_100]);
    expect(second[0]!.overrides).toMatchObject({ dedup: 'memory', model: 'open', rate: '4100', set: ['phases[0].rate=4100', 'phases[0].duration_s=5'] });
    expect(second.map((c) => c.scenario.phases[0]!.duration_s)).toEqual([5, 5, 5, 5]);
    expect(report.at_capacity?.rates).toEqual([
      { variant: 'memory', capacity_per_s: 8_200, rate_per_s: 4_100 },
      { variant: 'redis', capacity_per_s: 6_200, rate_per_s: 3_100 },
    ]);
    expect(report.at_capacity?.runs.map((r) => r.order)).toEqual([7, 8, 9, 10]);
    expect(lines.at(-1)).toBe('[10/10] redis at 50% r2/2  committed 3100 ev/s  p99 15.9 ms  INVALID: the generator fell behind its schedule');
    const md = readFileSync(join(out, 'compare.md'), 'utf8');
    expect(md.split('\n')[0]).toBe('**1 of 10 runs INVALID** — redis r2; their variants are marked ⚠');
    expect(md).toContain("## Latency at 50% of each variant's own capacity");
    expect(md).toContain('| memory | 8200 | 0.80× | 4100 | 2/2 | 4100 [4100–4100] |');
    expect(md).toContain('| ⚠ redis | 6200 | 0.61× | 3100 | 1/2 |');
    expect(md).toContain('- redis at 50% of capacity r2 (run 10 of 10)');
    const json = JSON.parse(readFileSync(join(out, 'compare.json'), 'utf8')) as CompareReport;
    expect(json.at_capacity?.runs).toHaveLength(4);
  });
});

describe('--sink', () => {
  it('reaches every run of every variant', async () => {
    const out = tempDir();
    const p = await plan('--scenario', 'dup-storm', '--dedup', 'postgres,redis', '--sink', 'postgres', '--replicates', '1', '--out', out);
    const calls: RunOptions[] = [];
    await runCompare(p, {
      run: async (options) => {
        calls.push(options);
        const result = fixture();
        result.scenario = options.scenario;
        return result;
      },
    });
    expect(calls.map((c) => c.sink)).toEqual(['postgres', 'postgres']);
    expect(await usageError('--scenario', 'dup-storm', '--dedup', 'sqlite,redis', '--sink', 'postgres')).toMatch(/variant 'sqlite'.*--sink/s);
  });
});

describe('--at-capacity', () => {
  it('refuses a fraction outside (0, 1] and capacity runs in the open model', async () => {
    expect(await usageError('--scenario', 'dup-storm', '--dedup', 'memory', '--model', 'closed', '--at-capacity', '0')).toMatch(/--at-capacity must be a fraction in \(0, 1\], like 0.5, got '0'/);
    expect(await usageError('--scenario', 'dup-storm', '--dedup', 'memory', '--model', 'closed', '--at-capacity', '1.5')).toMatch(/--at-capacity must be a fraction/);
    expect(await usageError('--scenario', 'dup-storm', '--dedup', 'memory', '--at-capacity', '0.5')).toMatch(/--at-capacity needs the capacity runs in the closed model/);
    expect(await usageError('--scenario', 'dup-storm', '--dedup', 'bare', '--model', 'closed', '--at-capacity', '0.5')).toMatch(/no variant has latency to measure/);
  });

  it('replaces the load model of a variant and keeps its other flags and changes', () => {
    const request: RunRequest = { scenario: 'dup-storm', flags: { model: 'closed', concurrency: 500, duration: '10s', dedup: 'redis' }, changes: [{ path: 'aggregator.batch_size', value: 5 }], broker: 'embedded', aggregator: 'reference' };
    expect(atRate(request, 2500, new Map([[0, 2]]))).toEqual({
      ...request,
      flags: { duration: '10s', dedup: 'redis', model: 'open', rate: '2500' },
      changes: [
        { path: 'aggregator.batch_size', value: 5 },
        { path: 'phases[0].rate', value: 2500 },
        { path: 'phases[0].duration_s', value: 5 },
      ],
    });
    // A warm-up already long enough keeps its length.
    expect(atRate({ ...request, flags: { model: 'closed' }, changes: [] }, 100, new Map([[0, 8]]))).toMatchObject({ flags: { model: 'open', rate: '100' }, changes: [{ path: 'phases[0].rate', value: 100 }] });
    expect(request.flags.model).toBe('closed'); // the variant's own request is left alone
  });

  it('takes capacity as the median committed rate of the runs that completed, and leaves out the bare subscriber', () => {
    const figures = (committed: number) => ({ committed_per_s: committed }) as never;
    const runs = [
      { variant: 'bare', figures: figures(9000) },
      { variant: 'sqlite', figures: figures(5001) },
      { variant: 'sqlite', figures: figures(4001) },
      { variant: 'sqlite', figures: null },
      { variant: 'postgres', figures: null },
    ].map((r) => ({ ...r, valid: true })) as never;
    const variants = [
      { name: 'bare', value: 'bare', aggregator: 'none' as const },
      { name: 'sqlite', value: 'sqlite', aggregator: 'reference' as const },
      { name: 'postgres', value: 'postgres', aggregator: 'reference' as const },
    ];
    expect(capacityRates({ variants, runs }, 0.5)).toEqual([{ variant: 'sqlite', capacity_per_s: 4501, rate_per_s: 2251 }]);
  });
});
