import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { LatencyRecorder } from '../../engine/metrics/histogram.ts';
import { mergeResults, type MergePart } from './merge.ts';
import { mergeProblems } from './merge-problems.ts';
import { main } from './merge-cli.ts';
import { readPart } from '../../engine/result-file.ts';
import type { MergedRunResult } from '../../engine/result.ts';
import type { RunResult } from '../../engine/result.ts';
import { runScenario } from '../../engine/run.ts';
import { startBroker } from '../../engine/broker/index.ts';
import { dupStorm } from '../../scenarios/shipped/dup-storm.ts';
import type { Scenario } from '../../scenarios/schema.ts';
import { tempDirs } from '../../test-support/temp-dirs.ts';

const FIXTURE = join(import.meta.dirname, '..', '..', 'test-support', 'fixtures', 'dup-storm.result.json');
const fixture = (): RunResult => JSON.parse(readFileSync(FIXTURE, 'utf8')) as RunResult;

const tempDir = tempDirs('merge');

function recorderOf(values: readonly number[]): LatencyRecorder {
  const recorder = new LatencyRecorder();
  for (const value of values) recorder.record(value);
  return recorder;
}

/** A part's latency figure: the merge reads only the histogram (and checks its count), so no summary is computed. */
const latencyOf = (values: readonly number[]) => {
  const recorder = recorderOf(values);
  return { ...new LatencyRecorder().summary(), count: recorder.count, histogram: recorder.encode() };
};

/** The fixture as one part of a run, with its end-to-end latencies replaced by `values` (µs). */
function part(id: string, values: readonly number[], change: (r: RunResult) => void = () => {}): RunResult {
  const result = fixture();
  result.run_id = id;
  result.started_at = new Date(Date.parse(result.started_at) + Number(id.replace(/\D/g, '') || 0)).toISOString();
  result.latency.end_to_end = latencyOf(values);
  result.phases[0]!.latency = latencyOf(values.slice(0, Math.floor(values.length / 3)));
  result.phases[1]!.latency = latencyOf(values.slice(Math.floor(values.length / 3)));
  change(result);
  return result;
}

function read(label: string, result: unknown): MergePart {
  const read = readPart(label, JSON.parse(JSON.stringify(result)));
  if (!read.part) throw new Error(read.errors.join('\n'));
  return read.part;
}

const withoutHistogram = ({ histogram: _h, ...rest }: { histogram: string }) => rest;

describe('mergeResults: histograms merged exactly', () => {
  it('the merged histogram is the histogram of all the parts\' values: count, every percentile, mean and stdev', () => {
    const latency = fc.integer({ min: 1, max: 5_000_000 });
    fc.assert(
      fc.property(fc.array(latency, { minLength: 3, maxLength: 300 }), fc.array(latency, { minLength: 3, maxLength: 300 }), fc.array(latency, { maxLength: 50 }), (a, b, c) => {
        const parts = [part('a1', a), part('b2', b), part('c3', c)].map((r, i) => read(`p${i}`, r));
        const merged = mergeResults(parts);
        const all = recorderOf([...a, ...b, ...c]);
        expect(merged.latency.end_to_end.count).toBe(a.length + b.length + c.length);
        expect(withoutHistogram(merged.latency.end_to_end)).toEqual(all.summary());
        const decoded = LatencyRecorder.decode(merged.latency.end_to_end.histogram);
        for (const q of [0, 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99, 100]) expect(decoded.valueAtPercentile(q)).toBe(all.valueAtPercentile(q));
        // Per phase too, each from its own parts.
        const storm = recorderOf([a, b, c].flatMap((values) => values.slice(Math.floor(values.length / 3))));
        expect(withoutHistogram(merged.phases[1]!.latency)).toEqual(storm.summary());
      }),
      { numRuns: 20 },
    );
  });
});

describe('mergeResults: counts, rates, checks', () => {
  it('sums the ledger and the counters, recomputes rates and throughput, re-evaluates the checks', () => {
    const a = part('a1', [1000, 2000, 3000]);
    const b = part('b2', [4000, 5000], (r) => {
      r.totals.lost = 3;
      r.totals.published += 10;
      r.totals.max_reorder_displacement = 7;
      r.phases[1]!.lost = 3;
      r.aggregator.self_reported.received += 5;
    });
    const merged = mergeResults([read('a', a), read('b', b)]);
    expect(merged.totals.published).toBe(a.totals.published + b.totals.published);
    expect(merged.totals.copies_published).toBe(a.totals.copies_published + b.totals.copies_published);
    expect(merged.totals.lost).toBe(3);
    expect(merged.totals.max_reorder_displacement).toBe(7);
    expect(merged.aggregator.self_reported.received).toBe(a.aggregator.self_reported.received + b.aggregator.self_reported.received);
    expect(merged.phases[1]!.published).toBe(a.phases[1]!.published + b.phases[1]!.published);
    expect(merged.phases[1]!.target_rate).toBe(2000);
    expect(merged.phases[1]!.lost).toBe(3);
    expect(merged.rates.loss_rate).toBeCloseTo(3 / merged.totals.published, 12);
    expect(merged.rates.duplicate_rate).toBeCloseTo(merged.totals.copies_published / (merged.totals.published + merged.totals.copies_published), 12);
    expect(merged.throughput.target_per_s).toBe(2000);
    expect(merged.faults).toHaveLength(1);
    expect(merged.faults[0]!.injected.copies).toBe(a.faults[0]!.injected.copies! * 2);
    // Checks are evaluated on the merged figures, not copied from the parts (b's say it passed).
    expect(merged.checks.find((c) => c.metric === 'lost')).toMatchObject({ actual: 3, passed: false });
    expect(merged.passed).toBe(false);
    expect(merged.valid).toBe(true);
    expect(merged.merged_from.map((p) => p.run_id)).toEqual(['a1', 'b2']);
  });

  it('recovery, generator lag and per-second p99 are the worst part\'s; commits per second add up', () => {
    const recovery = (recovery_s: number | null) => ({ phase: 'storm', baseline_phase: 'warmup', baseline_p99_ms: 10, baseline_backlog: 5, recovery_s, backlog_peak: 100, p99_peak_ms: 50 });
    const a = part('a1', [1], (r) => {
      r.phases[1]!.recovery = recovery(2);
      r.recovery_s = 2;
      r.generator.lag_p99_ms = 4;
      r.commits_per_second = [{ t_s: 0, committed: 10, p50_ms: 5, p99_ms: 9, max_ms: 12 }];
    });
    const b = part('b2', [1], (r) => {
      r.phases[1]!.recovery = recovery(3.5);
      r.recovery_s = 3.5;
      r.generator.lag_p99_ms = 9;
      r.commits_per_second = [{ t_s: 0, committed: 7, p50_ms: 6, p99_ms: 8, max_ms: 20 }];
    });
    const merged = mergeResults([read('a', a), read('b', b)]);
    expect(merged.phases[1]!.recovery?.recovery_s).toBe(3.5);
    expect(merged.recovery_s).toBe(3.5);
    expect(merged.generator.lag_p99_ms).toBe(9);
    expect(merged.commits_per_second).toEqual([{ t_s: 0, committed: 17, p50_ms: 6, p99_ms: 9, max_ms: 20 }]);
    const c = part('c3', [1], (r) => (r.phases[1]!.recovery = recovery(null)));
    expect(mergeResults([read('a', a), read('c', c)]).phases[1]!.recovery?.recovery_s).toBeNull();
  });

  it("adds up each part's measured offered rate and dropped events per phase; lag per phase is the worst part's", () => {
    // Each part published its whole share but handed off only part of it within the phase: the
    // merged offered rate is the parts' measured rates added, not published ÷ duration.
    const a = part('a1', [1], (r) => {
      Object.assign(r.phases[1]!, { offered_per_s: 700, dropped: 120, dropped_window_full: 20, lag_p99_ms: 140, lag_max_ms: 900 });
      Object.assign(r.generator, { max_lag_ms: 5000, dropped: 120, dropped_window_full: 20 });
    });
    const b = part('b2', [1], (r) => {
      Object.assign(r.phases[1]!, { offered_per_s: 950, dropped: 0, dropped_window_full: 0, lag_p99_ms: 3, lag_max_ms: 8 });
      Object.assign(r.generator, { max_lag_ms: 5000, dropped: 0, dropped_window_full: 0 });
    });
    const merged = mergeResults([read('a', a), read('b', b)]);
    expect(merged.phases[1]).toMatchObject({ published: 10000, offered_per_s: 1650, dropped: 120, dropped_window_full: 20, lag_p99_ms: 140, lag_max_ms: 900 });
    expect(merged.generator).toMatchObject({ max_lag_ms: 5000, dropped: 120, dropped_window_full: 20 });
    // Parts written before these figures existed count them as 0.
    expect(mergeResults([read('a', part('a1', [1])), read('b', part('b2', [1]))]).phases[1]).toMatchObject({ dropped: 0, offered_per_s: 2000 });
  });

  it('names the sink kind the parts shared (each had its own file or schema); none when a part had none', () => {
    const onPostgres = (schema: string) => (r: RunResult) => {
      r.sink = { kind: 'postgres', url: 'postgres://postgres@127.0.0.1:5432/test', schema };
    };
    const merged = mergeResults([read('a', part('a1', [1000], onPostgres('chaosbench_run_a'))), read('b', part('b2', [2000], onPostgres('chaosbench_run_b')))]);
    expect(merged.sink).toEqual({ kind: 'postgres', url: 'postgres://postgres@127.0.0.1:5432/test' });
    const older = mergeResults([read('a', part('a1', [1000], onPostgres('chaosbench_run_a'))), read('b', part('b2', [2000]))]);
    expect(older.sink).toBeUndefined();
    expect(readPart('c', { ...JSON.parse(JSON.stringify(part('c3', [1]))), sink: { kind: 'mysql', url: 1 } }).errors).toEqual([
      "c: sink.kind must be 'sqlite' or 'postgres' (got \"mysql\")",
      'c: sink.url must be a string (got 1)',
    ]);
  });

  it("says who counted the backlog: the broker only if it did for every part, self-reported if any part's was, none when no part says", () => {
    const counted = (source: 'broker' | 'subscriber (self-reported)' | undefined) => (r: RunResult) => {
      if (source === undefined) delete r.backlog_source;
      else r.backlog_source = source;
    };
    expect(mergeResults([read('a', part('a1', [1000], counted('broker'))), read('b', part('b2', [2000], counted('broker')))]).backlog_source).toBe('broker');
    expect(mergeResults([read('a', part('a1', [1000], counted('broker'))), read('b', part('b2', [2000], counted('subscriber (self-reported)')))]).backlog_source).toBe(
      'subscriber (self-reported)',
    );
    expect(mergeResults([read('a', part('a1', [1000], counted('broker'))), read('b', part('b2', [2000], counted(undefined)))]).backlog_source).toBe(
      'subscriber (self-reported)',
    );
    expect(mergeResults([read('a', part('a1', [1000], counted(undefined))), read('b', part('b2', [2000], counted(undefined)))]).backlog_source).toBeUndefined();
    expect(readPart('c', { ...JSON.parse(JSON.stringify(part('c3', [1]))), backlog_source: 'aggregator' }).errors).toEqual([
      "c: backlog_source must be 'broker' or 'subscriber (self-reported)' (got \"aggregator\")",
    ]);
  });

  it("says what the drain counted where every part says: self-reported if any part's was", () => {
    const drained = (counted: 'sink' | 'broker' | 'subscriber (self-reported)' | undefined) => (r: RunResult) => {
      if (counted === undefined) delete r.drain.counted;
      else r.drain.counted = counted;
    };
    expect(mergeResults([read('a', part('a1', [1000], drained('sink'))), read('b', part('b2', [2000], drained('sink')))]).drain.counted).toBe('sink');
    expect(mergeResults([read('a', part('a1', [1000], drained('broker'))), read('b', part('b2', [2000], drained('broker')))]).drain.counted).toBe('broker');
    expect(mergeResults([read('a', part('a1', [1000], drained('broker'))), read('b', part('b2', [2000], drained('subscriber (self-reported)')))]).drain.counted).toBe(
      'subscriber (self-reported)',
    );
    expect(mergeResults([read('a', part('a1', [1000], drained('sink'))), read('b', part('b2', [2000], drained(undefined)))]).drain.counted).toBeUndefined();
    expect(readPart('c', { ...JSON.parse(JSON.stringify(part('c3', [1]))), drain: { drain_s: 0, complete: true, stopped: 'done', outstanding: 0, counted: 'aggregator' } }).errors).toEqual([
      "c: drain.counted must be one of 'sink', 'broker', 'subscriber (self-reported)' (got \"aggregator\")",
    ]);
  });

  it('sums each process role\'s CPU, incarnations and messages over the parts and recomputes µs per message; none when a part has no cost', () => {
    const restarted = (r: RunResult) => {
      r.cost!.messages = 1000;
      r.cost!.processes.find((p) => p.role === 'aggregator')!.incarnations = 2;
    };
    const merged = mergeResults([read('a', part('a1', [1000])), read('b', part('b2', [2000], restarted))]).cost!;
    const one = fixture().cost!;
    expect(merged.messages).toBe(one.messages + 1000);
    const aggregator = merged.processes.find((p) => p.role === 'aggregator')!;
    const alone = one.processes.find((p) => p.role === 'aggregator')!;
    expect(aggregator).toEqual({ role: 'aggregator', cpu_s: 2 * alone.cpu_s, us_per_message: Math.round(((2 * alone.cpu_s * 1e6) / (one.messages + 1000)) * 1000) / 1000, incarnations: 3 });
    expect(merged.harness_process.cpu_s).toBeCloseTo(2 * one.harness_process.cpu_s, 6);
    expect(merged.notes.join(' ')).toMatch(/SIGKILLed incarnation/);
    const without = (r: RunResult) => void delete r.cost;
    expect(mergeResults([read('a', part('a1', [1000])), read('b', part('b2', [2000], without))]).cost).toBeUndefined();
    // The start-up split is summed when every part has it, and dropped when one has not.
    const split = (startup: number) => (r: RunResult) => {
      for (const p of r.cost!.processes) Object.assign(p, { startup_cpu_s: startup, after_load_cpu_s: startup / 5 });
      Object.assign(r.cost!.harness_process, { startup_cpu_s: 2 * startup, after_load_cpu_s: startup });
    };
    const both = mergeResults([read('a', part('a1', [1000], split(0.25))), read('b', part('b2', [2000], split(0.5)))]).cost!;
    const splitAggregator = both.processes.find((p) => p.role === 'aggregator')!;
    expect(splitAggregator.startup_cpu_s).toBe(0.75);
    expect(splitAggregator.running_us_per_message).toBeCloseTo(((2 * alone.cpu_s - 0.75) * 1e6) / both.messages, 2);
    expect(both.harness_process.startup_cpu_s).toBe(1.5);
    expect(splitAggregator.after_load_cpu_s).toBe(0.15);
    expect(splitAggregator.load_us_per_message).toBeCloseTo(((2 * alone.cpu_s - 0.75 - 0.15) * 1e6) / both.messages, 2);
    expect(both.harness_process.after_load_cpu_s).toBe(0.75);
    expect(both.notes.join(' ')).toMatch(/startup_cpu_s/);
    const halfSplit = mergeResults([read('a', part('a1', [1000], split(0.25))), read('b', part('b2', [2000]))]).cost!;
    expect(halfSplit.processes.every((p) => p.startup_cpu_s === undefined && p.running_us_per_message === undefined)).toBe(true);
    expect(halfSplit.harness_process.startup_cpu_s).toBeUndefined();
    expect(halfSplit.processes.every((p) => p.after_load_cpu_s === undefined && p.load_us_per_message === undefined)).toBe(true);
    expect(readPart('c', { ...JSON.parse(JSON.stringify(part('c3', [1]))), cost: { messages: 'many', clock_ticks_per_s: 100, processes: [{ role: 'broker', incarnations: 1 }], harness_process: { cpu_s: 1 } } }).errors).toEqual([
      'c: cost.messages must be a number (got "many")',
      'c: cost.processes[0].cpu_s must be a number (missing)',
    ]);
    expect(readPart('c', { ...JSON.parse(JSON.stringify(part('c3', [1]))), cost: { messages: 1, clock_ticks_per_s: 100, processes: [{ role: 'broker', cpu_s: 1, incarnations: 1, startup_cpu_s: 'soon', after_load_cpu_s: 'later' }], harness_process: { cpu_s: 1, startup_cpu_s: null, after_load_cpu_s: [] } } }).errors).toEqual([
      'c: cost.processes[0].startup_cpu_s must be a number (got "soon")',
      'c: cost.processes[0].after_load_cpu_s must be a number (got "later")',
      'c: cost.harness_process.startup_cpu_s must be a number (got null)',
      'c: cost.harness_process.after_load_cpu_s must be a number (got [])',
    ]);
    // The shares while the load ran: each part's own; the merge leaves them out (cores of different machines do not add up).
    const shares = (r: RunResult) => {
      for (const p of r.cost!.processes) Object.assign(p, { load_cores: 0.5, load_wait_share: 0.1 });
      Object.assign(r.cost!, { load_wall_s: 10, harness_busiest: { role: 'load worker 1', cores: 0.5, wait_share: 0.1, busy_share: 0.6 } });
    };
    const merged2 = mergeResults([read('a', part('a1', [1000], shares)), read('b', part('b2', [2000], shares))]).cost!;
    expect(merged2.processes.every((p) => p.load_cores === undefined && p.load_wait_share === undefined)).toBe(true);
    expect(merged2.load_wall_s).toBeUndefined();
    expect(merged2.harness_busiest).toBeUndefined();
    expect(readPart('c', { ...JSON.parse(JSON.stringify(part('c3', [1]))), cost: { messages: 1, clock_ticks_per_s: 100, processes: [{ role: 'broker', cpu_s: 1, incarnations: 1, load_cores: 'all', load_wait_share: 1e999 }], harness_process: { cpu_s: 1 }, load_wall_s: '10 s', harness_busiest: { role: 7, cores: 0.5, wait_share: null, busy_share: 0.6 } } }).errors).toEqual([
      'c: cost.processes[0].load_cores must be a number (got "all")',
      'c: cost.processes[0].load_wait_share must be a number (got Infinity)',
      'c: cost.load_wall_s must be a number (got "10 s")',
      'c: cost.harness_busiest.role must be a string (got 7)',
      'c: cost.harness_busiest.wait_share must be a number (got null)',
    ]);
  });

  it("reads a run of your own consumer (aggregator.kind 'external' with its target) and names a malformed target", () => {
    const target = { command: ['node', 'consumer.mjs'], env_names: [], sink: 'query', commit_time: false, restarts: 1, unexpected_exits: [] };
    const external = JSON.parse(JSON.stringify(part('e1', [1])));
    external.aggregator = { ...external.aggregator, kind: 'external', target };
    expect(readPart('e', external).errors).toEqual([]);
    external.aggregator.target = { ...target, command: [], sink: 'kafka', commit_time: 'no' };
    expect(readPart('e', external).errors).toEqual([
      'e: aggregator.target.command must be a non-empty list of strings (got [])',
      "e: aggregator.target.sink must be 'reference-schema' or 'query' (got \"kafka\")",
      'e: aggregator.target.commit_time must be true or false (got "no")',
    ]);
  });

  it('a run is valid only if every part is, and says which part was not', () => {
    const b = part('b2', [1], (r) => {
      r.valid = false;
      r.invalid_reasons = ['the generator fell behind its schedule'];
      r.shard = { index: 2, count: 2 };
    });
    const a = part('a1', [1], (r) => (r.shard = { index: 1, count: 2 }));
    const merged = mergeResults([read('a', a), read('b', b)]);
    expect(merged.valid).toBe(false);
    expect(merged.invalid_reasons).toEqual(['shard 2/2: the generator fell behind its schedule']);
  });
});

describe('mergeProblems: only parts of one run merge', () => {
  const asShard = (index: number, count: number) => (r: RunResult) => (r.shard = { index, count });

  it('names the scenario fields that differ', () => {
    const b = part('b2', [1], (r) => (r.scenario.phases[1]!.rate = 800));
    expect(mergeProblems([read('a.json', part('a1', [1])), read('b.json', b)])).toEqual(['scenario.phases[1].rate differs: 1000 in a.json, 800 in b.json']);
    const other = part('c3', [1], (r) => (r.scenario.name = 'smoke'));
    expect(mergeProblems([read('a.json', part('a1', [1])), read('c.json', other)])[0]).toMatch(/scenario differs: a\.json ran 'dup-storm', c\.json ran 'smoke'/);
  });

  it('wants every shard exactly once, with one seed', () => {
    const parts = (...changes: ((r: RunResult) => void)[]) => changes.map((change, i) => read(`s${i}`, part(`r${i}`, [1], change)));
    expect(mergeProblems(parts(asShard(1, 3), asShard(2, 3), asShard(3, 3)))).toEqual([]);
    expect(mergeProblems(parts(asShard(1, 3), asShard(3, 3)))).toEqual(['shard 2/3 missing: a run split 3 ways merges from all 3 shards']);
    expect(mergeProblems(parts(asShard(1, 2), asShard(1, 2)))).toEqual(expect.arrayContaining(['shard 1/2 appears more than once: s0, s1']));
    expect(mergeProblems(parts(asShard(1, 2), () => {}))[0]).toMatch(/some parts are shards/);
    expect(mergeProblems(parts(asShard(1, 2), asShard(2, 3)))[0]).toMatch(/split differently/);
    expect(mergeProblems(parts(asShard(1, 2), (r) => ((r.shard = { index: 2, count: 2 }), (r.seed = 7)))).at(-1)).toMatch(/share one seed/);
  });

  it('refuses the same run twice', () => {
    const a = read('a', part('a1', [1, 2]));
    expect(mergeProblems([a, read('copy', part('a1', [1, 2]))])[0]).toMatch(/are the same run/);
  });
});

function writePart(dir: string, result: unknown): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'result.json'), typeof result === 'string' ? result : JSON.stringify(result));
  return dir;
}

function runMain(argv: string[]): { code: number; out: string; err: string } {
  let out = '';
  let err = '';
  const code = main(argv, { stdout: (t) => (out += t), stderr: (t) => (err += t) });
  return { code, out, err };
}

describe('npm run merge', () => {
  it('writes the merged result.json and its report; exit code as for a run', () => {
    const root = tempDir();
    const a = writePart(join(root, 'a'), fixture());
    const b = writePart(join(root, 'b'), part('b2', [5000, 6000], (r) => (r.totals.lost = 1)));
    const out = join(root, 'merged');
    const { code, out: stdout, err } = runMain([a, b, '--out', out]);
    expect(err).toBe('');
    expect(code).toBe(1); // lost == 0 fails on the merged figures
    expect(stdout).toMatch(/^merged 2 runs/);
    const merged = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8')) as MergedRunResult;
    expect(merged.latency.end_to_end.count).toBe(fixture().latency.end_to_end.count + 2);
    expect(merged.merged_from).toHaveLength(2);
    for (const file of ['report.md', 'report.html', 'latency.svg', 'timeline.svg', 'backlog.svg', 'latency.hgrm', 'publish-ack.hgrm', 'phase-storm.hgrm']) expect(existsSync(join(out, file))).toBe(true);
    const report = readFileSync(join(out, 'report.md'), 'utf8');
    expect(report.split('\n')[0]).toMatch(/^\*\*FAIL\*\*/);
    expect(report).toMatch(/## Merged from 2 runs/);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html).toContain('data-verdict="fail"');
    expect(html).toContain('data-exit="1"');
    expect(html).toContain('<h2 id="merged">Merged from 2 runs</h2>');
  });

  it('exit 2 naming the file and the field for missing, non-JSON and garbled input, all at once', () => {
    const root = tempDir();
    const good = writePart(join(root, 'good'), fixture());
    const notJson = writePart(join(root, 'not-json'), '{"schema": ');
    const garbled = writePart(
      join(root, 'garbled'),
      part('g1', [1], (r) => {
        (r.totals as unknown as Record<string, unknown>).published = 'many';
        r.latency.publish_ack.histogram = 'not a histogram';
        r.phases[1]!.latency.count += 1;
      }),
    );
    const empty = join(root, 'empty');
    mkdirSync(empty);
    const { code, err } = runMain([good, notJson, garbled, empty, join(root, 'nowhere')]);
    expect(code).toBe(2);
    expect(err).toContain(`${join(notJson, 'result.json')}: not JSON`);
    expect(err).toContain(`${join(garbled, 'result.json')}: totals.published must be a number (got "many")`);
    expect(err).toMatch(/garbled\/result\.json: latency\.publish_ack\.histogram is not a compressed base64 HDR histogram/);
    expect(err).toMatch(/garbled\/result\.json: phases\[1\]\.latency\.histogram holds \d+ samples but phases\[1\]\.latency\.count says \d+/);
    expect(err).toContain(`${empty}: no result.json in it`);
    expect(err).toContain(`${join(root, 'nowhere')}: no such directory or file`);
  });

  it('exit 2 for parts that are not one run, for one part, and for --out onto a part', () => {
    const root = tempDir();
    const a = writePart(join(root, 'a'), fixture());
    const b = writePart(join(root, 'b'), part('b2', [1], (r) => (r.scenario.aggregator.dedup = 'sqlite')));
    expect(runMain([a, b])).toMatchObject({ code: 2, err: expect.stringMatching(/scenario\.aggregator\.dedup differs: "memory" in .*, "sqlite" in /) });
    expect(runMain([a])).toMatchObject({ code: 2, err: expect.stringMatching(/at least two/) });
    const c = writePart(join(root, 'c'), part('c3', [1]));
    expect(runMain([a, c, '--out', a])).toMatchObject({ code: 2, err: expect.stringMatching(/is the directory of one of the parts/) });
    expect(runMain([a, c, '--bogus'])).toMatchObject({ code: 2, err: expect.stringMatching(/unknown option --bogus/) });
  });
});

describe('two shards of one real run against one broker', () => {
  it('publish the whole schedule once between them; the merge adds up exactly', { timeout: 120_000 }, async () => {
    const scenario: Scenario = structuredClone(dupStorm);
    scenario.phases[0]!.duration_s = 0.5;
    scenario.phases[0]!.rate = 200;
    scenario.phases[1]!.duration_s = 2;
    scenario.phases[1]!.rate = 400;
    scenario.aggregator.dedup = 'memory';
    scenario.drain_timeout_s = 15;
    const broker = await startBroker('embedded');
    try {
      const shards = await Promise.all(
        [1, 2].map((index) =>
          runScenario({ scenario, overrides: { shard: `${index}/2` }, broker: broker.url, out_dir: tempDir(), shard: { index, count: 2 } }),
        ),
      );
      for (const [i, shard] of shards.entries()) {
        expect(shard.shard).toEqual({ index: i + 1, count: 2 });
        expect(shard.generator.publishers).toBe(2);
        expect(shard.phases[1]!.target_rate).toBe(200);
        expect(shard.totals.unexpected).toBe(0); // no shard's sink saw the other's events
      }
      const parts = shards.map((r, i) => read(`shard${i + 1}`, r));
      expect(mergeProblems(parts)).toEqual([]);
      const merged = mergeResults(parts);
      // The whole schedule (100 warm-up + 800 storm events), each published by exactly one shard.
      expect(merged.totals.published).toBe(900);
      expect(shards[0]!.totals.published + shards[1]!.totals.published).toBe(900);
      expect(merged.totals.unique_committed).toBe(900);
      expect(merged.totals.lost).toBe(0);
      expect(merged.totals.sink_duplicates).toBe(0);
      expect(merged.totals.copies_published).toBe(shards[0]!.totals.copies_published + shards[1]!.totals.copies_published);
      expect(merged.throughput.target_per_s).toBe(400);
      expect(merged.latency.end_to_end.count).toBe(800);
      const all = LatencyRecorder.decode(shards[0]!.latency.end_to_end.histogram);
      all.merge(LatencyRecorder.decode(shards[1]!.latency.end_to_end.histogram));
      expect(withoutHistogram(merged.latency.end_to_end)).toEqual(all.summary());
      expect(merged.checks.every((c) => c.passed)).toBe(true);
      // Validity is the parts' (a loaded machine can push a shard's generator lag over its limit).
      expect(merged.valid).toBe(shards.every((s) => s.valid));
      expect(merged.invalid_reasons).toHaveLength(shards.reduce((n, s) => n + s.invalid_reasons.length, 0));
      expect(merged.broker).toEqual(shards[0]!.broker);
    } finally {
      await broker.stop();
    }
  });
});
