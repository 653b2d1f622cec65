// The perf tables and its target lines from a hand-made perf.json: which figure each target takes,
// met and not met (printed with the digits that agree with the verdict), "not measured" when its
// variants did not run, and the table at a share of capacity with its invalid and skipped rows. Pure.

import { describe, expect, it } from 'vitest';
import type { RunFigures } from '../engine/figures.ts';
import { agreeingFigure, busiestProcess, harnessBusy, harnessShare, PERF_SCHEMA, perfAtCapacityTable, perfTargetLines, perfTargets, renderPerf, type PerfReport, type PerfVariant } from './perf.ts';
import type { CompareRun } from './compare.ts';

const VARIANTS: PerfVariant[] = [
  { name: 'bare', what: 'bare subscriber', kind: 'capacity', aggregator: 'none' },
  { name: 'memory', what: 'memory dedup', kind: 'capacity', aggregator: 'reference' },
  { name: 'redis', what: 'redis dedup', kind: 'capacity', aggregator: 'reference' },
  { name: 'generator', what: 'generator capacity', kind: 'generator-capacity', aggregator: 'none' },
  { name: 'generator-10k', what: 'generator at 10000 ev/s', kind: 'generator-rate', aggregator: 'none' },
];

function run(variant: string, replicate: number, committed: number, cpu: Record<string, number>): CompareRun {
  const figures = { committed_per_s: committed, cpu_us_per_message: cpu, cpu_includes_startup: false } as Partial<RunFigures> as RunFigures;
  return { order: 0, variant, replicate, out_dir: `/x/${variant}-r${replicate}`, aggregator: variant === 'memory' || variant === 'redis' ? 'reference' : 'none', run_id: 'r', valid: true, invalid_reasons: [], passed: true, error: null, figures };
}

function perf(variants: PerfVariant[], runs: CompareRun[]): PerfReport {
  return { schema: PERF_SCHEMA, command: 'npm run perf', replicates: 2, duration_s: 10, concurrency: 1000, generator_rate: 10_000, variants, runs, machine: null, git_sha: 'abc', started_at: '2026-12-03T10:00:00Z', finished_at: '2026-12-03T10:10:00Z' };
}

describe('perf targets', () => {
  it('judges each target on its own figure: generator µs summed over the load workers and the main thread, capacities per round against bare', () => {
    const report = perf(VARIANTS, [
      run('bare', 1, 10_000, { broker: 30 }),
      run('memory', 1, 9_500, { aggregator: 20 }),
      run('redis', 1, 7_000, { aggregator: 25 }),
      run('generator', 1, 30_000, { 'load worker 1': 20 }),
      run('generator-10k', 1, 10_000, { 'load worker 1': 4, 'load worker 2': 4, 'harness main thread': 1, broker: 50 }),
      run('bare', 2, 20_000, { broker: 30 }),
      run('memory', 2, 18_000, { aggregator: 20 }),
      run('redis', 2, 16_000, { aggregator: 25 }),
      run('generator', 2, 40_000, { 'load worker 1': 20 }),
      run('generator-10k', 2, 10_000, { 'load worker 1': 5, 'load worker 2': 5, 'harness main thread': 1, broker: 50 }),
    ]);
    const targets = perfTargets(report);
    expect(targets.map((t) => [t.value === null ? null : Math.round(t.value * 1000) / 1000, t.met])).toEqual([
      [10, true], // (9 + 11) / 2 µs: the load workers and the main thread (without it 9), not the broker
      [2.545, true], // 35,000 / 13,750
      [0.925, true], // rounds 0.95 and 0.90
      [0.75, true], // rounds 0.70 and 0.80
      [null, null],
      [null, null],
    ]);
    const lines = perfTargetLines(report);
    expect(lines[0]).toBe("- generator CPU per message at 10,000 ev/s: 10.0 µs (target ≤ 10 µs) — met; the load worker threads' and the harness main thread's CPU µs per message, summed (main thread + workers together), from the start of the load schedule (start-up left out), median of the runs of generator-10k");
    expect(lines[4]).toMatch(/^- sqlite dedup capacity ÷ bare subscriber capacity: not measured \(target reported\);/);
    const table = renderPerf(report).split('\n').filter((line) => line.startsWith('| '));
    expect(table[0]).toContain('| variant | what | valid runs | committed ev/s median [min–max] | × bare (medians) | × bare per round median [min–max] | load worker 1 µs/msg | load worker 2 µs/msg |');
    expect(table[3]).toMatch(/^\| memory \| memory dedup \| 2\/2 \| 13750 \[9500–18000\] \| 0\.92× \| 0\.93× \[0\.90×–0\.95×\] \|/);
    expect(table[5]).toMatch(/^\| generator \| generator capacity \| 2\/2 \| 35000 \[30000–40000\] \| — \| — \|/);
  });

  it('takes a capacity ratio over the bare subscriber on the same broker only: "not measured" without it, never over another variant', () => {
    // memory and redis without bare: no ratio over whichever variant happens to run first.
    const alone = perf(VARIANTS, [run('memory', 1, 9_500, { aggregator: 20 }), run('redis', 1, 7_000, { aggregator: 25 })]);
    const lines = perfTargetLines(alone);
    expect(lines.find((l) => l.startsWith('- memory dedup'))).toMatch(/^- memory dedup capacity ÷ bare subscriber capacity: not measured/);
    expect(lines.find((l) => l.startsWith('- redis dedup'))).toMatch(/^- redis dedup capacity ÷ bare subscriber capacity: not measured/);
    const rows = renderPerf(alone).split('\n').filter((line) => line.startsWith('| memory |') || line.startsWith('| redis |'));
    expect(rows.map((r) => r.split('|').map((c) => c.trim()).slice(5, 7))).toEqual([['—', '—'], ['—', '—']]);

    // Through the relay: memory-relay over bare-relay (its baseline), not over the embedded bare.
    const relay: PerfVariant[] = [
      ...VARIANTS,
      { name: 'bare-relay', what: 'bare through the relay', kind: 'capacity', aggregator: 'none', baseline: 'bare-relay' },
      { name: 'memory-relay', what: 'memory through the relay', kind: 'capacity', aggregator: 'reference', baseline: 'bare-relay' },
    ];
    const both = perf(relay, [
      run('bare', 1, 20_000, {}),
      run('memory', 1, 19_000, {}),
      run('bare-relay', 1, 80_000, {}),
      run('memory-relay', 1, 60_000, {}),
    ]);
    const table = renderPerf(both).split('\n').filter((line) => line.startsWith('| '));
    const cells = (name: string) => table.find((line) => line.startsWith(`| ${name} |`))!.split('|').map((c) => c.trim()).slice(5, 7);
    expect(cells('bare-relay')).toEqual(['1.00×', '—']);
    expect(cells('memory-relay')).toEqual(['0.75×', '0.75× [0.75×–0.75×]']);
    expect(cells('memory')).toEqual(['0.95×', '0.95× [0.95×–0.95×]']);
    // The targets stay on the embedded broker's variants.
    expect(perfTargets(both).find((t) => t.name.startsWith('memory dedup'))!.value).toBeCloseTo(0.95, 5);
  });

  it('names the busiest process in cores: µs per message × messages per second (copies included), the harness process as a whole left out', () => {
    const withCopies = (variant: string, replicate: number, committed: number, cpu: Record<string, number>): CompareRun => {
      const r = run(variant, replicate, committed, cpu);
      return { ...r, figures: { ...r.figures!, duplicate_rate: 0.2 } };
    };
    const report = perf(VARIANTS, [
      // 20,000 events/s are 25,000 messages/s with 20% of deliveries copies: 40 µs is 1.00 core.
      withCopies('bare', 1, 20_000, { broker: 40, 'bare subscriber': 12, 'harness, all threads': 50 }),
      withCopies('bare', 2, 16_000, { broker: 40, 'bare subscriber': 12, 'harness, all threads': 50 }),
      withCopies('memory', 1, 40_000, { broker: 2, aggregator: 22 }),
    ]);
    const bare = busiestProcess(report, 'bare')!;
    expect(bare.role).toBe('broker');
    expect([bare.cores.median, bare.cores.min, bare.cores.max]).toEqual([0.9, 0.8, 1]);
    expect(busiestProcess(report, 'memory')).toMatchObject({ role: 'aggregator', cores: { median: 1.1 } });
    // A run without CPU figures, or without its copies' share, names none.
    expect(busiestProcess(report, 'redis')).toBeNull();
    expect(busiestProcess(perf(VARIANTS, [run('bare', 1, 20_000, { broker: 40 })]), 'bare')).toBeNull();
    const rows = renderPerf(report).split('\n').filter((line) => line.startsWith('| '));
    expect(rows[0]).toMatch(/\| busiest process ≈ cores \| harness's share of the CPU while the load ran \| harness's busiest thread had work \|$/);
    // These runs do not split the load off: no share.
    expect(rows.find((line) => line.startsWith('| bare |'))).toMatch(/\| broker 0\.90 \[0\.80–1\.00\] \| — \| — \|$/);
  });

  it("takes the busiest process from the CPU while the load ran where the runs record it, and gives the harness's share of it", () => {
    const during = (variant: string, replicate: number, committed: number, load: Record<string, number>): CompareRun => {
      // The whole-run figures say otherwise (the ledger after the load): the load's are the ones taken.
      const r = run(variant, replicate, committed, { broker: 10, 'bare subscriber': 10, 'harness main thread': 30, 'load worker 1': 5, 'harness, all threads': 40 });
      return { ...r, figures: { ...r.figures!, duplicate_rate: 0.2, cpu_us_per_message_during_load: load } };
    };
    const report = perf(VARIANTS, [
      // 20,000 events/s are 25,000 messages/s: 40 µs is 1.00 core. Harness 10 of 10 + 40 + 30 = 80: 12.5%.
      during('bare', 1, 20_000, { broker: 40, 'bare subscriber': 30, 'harness main thread': 2, 'load worker 1': 6, 'harness, all threads': 10 }),
      during('bare', 2, 20_000, { broker: 40, 'bare subscriber': 10, 'harness main thread': 2, 'load worker 1': 6, 'harness, all threads': 10 }),
    ]);
    expect(busiestProcess(report, 'bare')).toMatchObject({ role: 'broker', cores: { median: 1 } });
    const share = harnessShare(report, 'bare')!;
    expect([share.min, share.max]).toEqual([10 / 80, 10 / 60]);
    const row = renderPerf(report).split('\n').find((line) => line.startsWith('| bare |'))!;
    expect(row).toMatch(/\| broker 1\.00 \[1\.00–1\.00\] \| 14\.6% \[12\.5%–16\.7%\] \| — \|$/);
    expect(harnessShare(report, 'memory')).toBeNull();
  });

  it("says whether the harness was the bound of the generator-capacity runs, shows its busiest thread's share per variant, and marks its harness-bound runs expected", () => {
    const busy = (r: CompareRun, share: number, invalid = false): CompareRun => ({
      ...r,
      figures: { ...r.figures!, harness_busy_share: share },
      ...(invalid ? { valid: false, invalid_reasons: ['the harness was the bound: its load worker 1 was running or waiting for a core 93% of the time the load ran'] } : {}),
    });
    const cpu = { 'load worker 1': 20 };
    const notBound = perf(VARIANTS, [busy(run('memory', 1, 10_000, cpu), 0.3), busy(run('generator', 1, 30_000, cpu), 0.33), busy(run('generator', 2, 32_000, cpu), 0.38)]);
    expect(harnessBusy(notBound, 'generator')).toMatchObject({ median: 0.355, min: 0.33, max: 0.38 });
    expect(perfTargetLines(notBound).find((l) => l.startsWith('- generator capacity'))).toMatch(/the harness was not the bound in any of its 2 runs \(its busiest thread had work at most 38% of the time\), so this is a lower bound of the generator's capacity \(more in flight: --generator-concurrency\)$/);
    expect(renderPerf(notBound).split('\n').find((l) => l.startsWith('| generator |'))).toMatch(/\| 35\.5% \[33%–38%\] \|$/);
    // A broker at about a core set the pace instead: named, and no advice to raise the number in flight.
    const atBroker = (r: CompareRun): CompareRun => ({ ...r, figures: { ...r.figures!, duplicate_rate: 0.25, harness_busy_share: 0.4 } });
    const brokerBound = perf(VARIANTS, [atBroker(run('generator', 1, 30_000, { 'load worker 1': 3, broker: 31 })), atBroker(run('generator', 2, 31_000, { 'load worker 1': 3, broker: 30 }))]);
    expect(perfTargetLines(brokerBound).find((l) => l.startsWith('- generator capacity'))).toMatch(/so this is a lower bound of the generator's capacity: the broker was at 1\.24 cores, its ceiling$/);
    const bound = perf(VARIANTS, [busy(run('memory', 1, 10_000, cpu), 0.3), busy(run('generator', 1, 60_000, cpu), 0.93, true), busy(run('memory', 2, 10_000, cpu), 0.85, true)]);
    expect(perfTargetLines(bound).find((l) => l.startsWith('- generator capacity'))).toMatch(/the harness was the bound in its one run .*: the generator's ceiling on this machine$/);
    const warning = renderPerf(bound).split('\n').find((l) => l.startsWith('⚠'))!;
    // Expected of the generator's variant, not of a capacity variant.
    expect(warning).toMatch(/generator r1: the harness was the bound: [^·]*\(expected: a generator-capacity variant measures the harness\) · memory r2: the harness was the bound: [^·]*93% of the time the load ran$/);
    expect(perfTargetLines(perf(VARIANTS, [busy(run('generator', 1, 60_000, cpu), 0.93, true), busy(run('generator', 2, 50_000, cpu), 0.5)])).find((l) => l.startsWith('- generator capacity'))).toMatch(/the harness was the bound in 1 of its 2 runs$/);
  });

  it('says how many events the generator-capacity variants had in flight when it was their own number, not in a perf.json from before it', () => {
    const runs = [run('memory', 1, 10_000, {}), run('generator', 1, 300_000, {})];
    const header = (report: PerfReport) => renderPerf(report).split('\n').find((l) => l.startsWith('- 5 variants') || l.startsWith('- 1 variant'))!;
    expect(header({ ...perf(VARIANTS, runs), generator_concurrency: 8000 })).toContain(
      "closed model with 1000 events in flight (8000 in the generator-capacity variants, so that the generator, not the closed model's round trip, sets their pace), but",
    );
    expect(header(perf(VARIANTS, runs))).toContain('closed model with 1000 events in flight, but');
    const noGenerator = VARIANTS.filter((v) => v.kind !== 'generator-capacity');
    expect(renderPerf({ ...perf(noGenerator, runs), generator_concurrency: 8000 })).not.toContain('in the generator-capacity variants');
  });

  it('judges every generator-rate variant on its own line: the default wake-up interval first, then the batched one', () => {
    const batched: PerfVariant = { name: 'generator-10k-4ms', what: 'the same, 4 ms wake-ups', kind: 'generator-rate', aggregator: 'none' };
    const report = perf([...VARIANTS, batched], [
      run('generator-10k', 1, 10_000, { 'load worker 1': 14, 'harness main thread': 0.5 }),
      run('generator-10k-4ms', 1, 10_000, { 'load worker 1': 9, 'harness main thread': 0.5 }),
    ]);
    const lines = perfTargetLines(report).filter((line) => line.startsWith('- generator CPU'));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^- generator CPU per message at 10,000 ev\/s: 14\.5 µs \(target ≤ 10 µs\) — NOT MET;.* of generator-10k$/);
    expect(lines[1]).toMatch(/^- generator CPU per message at 10,000 ev\/s \(generator-10k-4ms\): 9\.5 µs \(target ≤ 10 µs\) — met;.* of generator-10k-4ms$/);
  });

  it("says whether its CPU figures leave start-up out: a perf.json from before the split says they include it", () => {
    const old = run('generator-10k', 1, 10_000, { 'load worker 1': 14, 'harness main thread': 0.5 });
    delete old.figures!.cpu_includes_startup;
    const report = perf(VARIANTS, [old, run('generator-10k', 2, 10_000, { 'load worker 1': 12, 'harness main thread': 0.5 })]);
    expect(perfTargetLines(report)[0]).toMatch(/main thread \+ workers together\), start-up included in 1 of 2 runs, median/);
    const text = renderPerf(report);
    expect(text).toMatch(/- CPU µs per message: each process's \(or thread's\) user \+ system time from \/proc, from the start of the load schedule, except 1 of the 2 runs/);
    expect(renderPerf(perf(VARIANTS, [old]))).toMatch(/from \/proc, over the whole run, each process's start-up included/);
  });

  it('judges every generator-capacity variant on its own line, each saying what it was measured against (a perf.json from before `against`: its what); one marked reported is not judged', () => {
    const relay: PerfVariant = { name: 'generator', what: 'generator capacity, relay', kind: 'generator-capacity', aggregator: 'none', against: 'the relay and the bare subscriber' };
    const mosquitto: PerfVariant = { name: 'generator-mosquitto', what: 'generator capacity, Mosquitto', kind: 'generator-capacity', aggregator: 'none', against: 'a private Mosquitto and the bare subscriber' };
    const runs = [run('memory', 1, 10_000, {}), run('generator', 1, 45_000, {}), run('generator-mosquitto', 1, 19_000, {})];
    const lines = perfTargetLines(perf([VARIANTS[1]!, relay, mosquitto], runs)).filter((line) => line.startsWith('- generator capacity'));
    expect(lines).toEqual([
      '- generator capacity (generator: against the relay and the bare subscriber) ÷ reference aggregator capacity (memory dedup): 4.50 (target ≥ 2) — met; ratio of the medians of committed ev/s of generator and memory',
      '- generator capacity (generator-mosquitto: against a private Mosquitto and the bare subscriber) ÷ reference aggregator capacity (memory dedup): 1.90 (target ≥ 2) — NOT MET; ratio of the medians of committed ev/s of generator-mosquitto and memory',
    ]);
    // Mosquitto's figure is its own ceiling: reported beside the target, never judged (a perf.json from before `reported`: judged, above).
    const reported = perfTargetLines(perf([VARIANTS[1]!, relay, { ...mosquitto, reported: "Mosquitto's ceiling" }], runs)).filter((line) => line.startsWith('- generator capacity'));
    expect(reported[1]).toBe(
      "- generator capacity (generator-mosquitto: against a private Mosquitto and the bare subscriber) ÷ reference aggregator capacity (memory dedup): 1.90 (target reported: Mosquitto's ceiling) — reported; ratio of the medians of committed ev/s of generator-mosquitto and memory",
    );
    expect(perfTargets(perf([VARIANTS[1]!, relay, { ...mosquitto, reported: "Mosquitto's ceiling" }], runs)).find((t) => t.name.includes('generator-mosquitto'))?.met).toBeNull();
    // Nor does its line advise more in flight: no number in flight lifts a broker's ceiling.
    const quiet = runs.map((r) => ({ ...r, figures: { ...r.figures!, harness_busy_share: 0.35 } }));
    expect(perfTargetLines(perf([VARIANTS[1]!, relay, { ...mosquitto, reported: "Mosquitto's ceiling" }], quiet)).filter((line) => line.startsWith('- generator capacity'))).toEqual([
      expect.stringMatching(/so this is a lower bound of the generator's capacity \(more in flight: --generator-concurrency\)$/),
      expect.stringMatching(/so this is a lower bound of the generator's capacity$/),
    ]);
    const { against: _against, ...before } = relay;
    expect(perfTargetLines(perf([VARIANTS[1]!, before], runs)).find((line) => line.startsWith('- generator capacity'))).toMatch(/^- generator capacity \(generator: generator capacity, relay\) ÷ reference aggregator capacity \(memory dedup\): 4\.50 /);
  });

  it('says NOT MET below a bound, and not measured for a target whose variants did not run', () => {
    const report = perf(VARIANTS.slice(0, 2), [run('bare', 1, 10_000, {}), run('memory', 1, 8_000, {})]);
    const lines = perfTargetLines(report);
    expect(lines[0]).toMatch(/^- generator CPU per message at 10,000 ev\/s: not measured \(target ≤ 10 µs\);/);
    expect(lines[1]).toMatch(/: not measured \(target ≥ 2\);/);
    expect(lines[2]).toMatch(/^- memory dedup capacity ÷ bare subscriber capacity: 0\.80 \(target ≥ 0\.90\) — NOT MET;/);
    expect(lines[3]).toMatch(/^- redis dedup capacity ÷ bare subscriber capacity: not measured/);
  });

  it('prints a value just beside its bound with the digits that agree with the verdict', () => {
    const report = perf(VARIANTS, [
      run('bare', 1, 10_000, {}),
      run('memory', 1, 8_999.6, {}),
      run('redis', 1, 7_512, {}),
      run('generator-10k', 1, 10_000, { 'load worker 1': 8, 'harness main thread': 2.04 }),
    ]);
    const lines = perfTargetLines(report);
    expect(lines[0]).toMatch(/: 10\.04 µs \(target ≤ 10 µs\) — NOT MET;/); // not "10.0 µs … NOT MET"
    expect(lines[2]).toMatch(/: 0\.89996 \(target ≥ 0\.90\) — NOT MET;/); // not "0.90 … NOT MET"
    expect(lines[3]).toMatch(/: 0\.75 \(target ≥ 0\.75\) — met;/); // 0.7512: two digits agree
    expect(agreeingFigure(0.7496, 2, (v) => v >= 0.75)).toBe('0.7496');
    expect(agreeingFigure(0.7496, 2, (v) => v >= 0.8)).toBe('0.75');
  });
});

describe('the table at a share of capacity', () => {
  const capacity = [run('bare', 1, 10_000, {}), run('memory', 1, 8_000, {}), { ...run('redis', 1, 6_000, {}), valid: false, invalid_reasons: ['the generator fell behind'] }];
  const at = (variant: string, replicate: number, p99: number | null, valid = true) => {
    const r = run(variant, replicate, 4_000, { 'load worker 1': 30, broker: 40, [variant === 'bare' ? 'bare subscriber' : 'aggregator']: 20 });
    return { ...r, valid, invalid_reasons: valid ? [] : ['the generator offered 3500 ev/s against a target of 4000 ev/s (below 95%)'], figures: { ...r.figures!, p99_ms: p99 } };
  };
  const report: PerfReport = {
    ...perf(VARIANTS.slice(0, 3), capacity),
    at_capacity: {
      fraction: 0.5,
      rates: [
        { variant: 'bare', capacity_per_s: 10_000, rate_per_s: 5_000 },
        { variant: 'memory', capacity_per_s: 8_000, rate_per_s: 4_000 },
      ],
      runs: [at('bare', 1, null), at('memory', 1, 31.25), at('bare', 2, null), at('memory', 2, 152, false)],
      skipped: [{ variant: 'redis', reason: 'no valid run in the capacity pass (1 invalid, 0 could not complete)' }],
    },
  };

  it('has per variant its rate, valid runs, p99 median [min–max] (none for the bare subscriber) and CPU µs per message; ⚠ on an invalid run, the reason of a skipped variant', () => {
    expect(perfAtCapacityTable(report)).toMatchInlineSnapshot(`
      "| variant | rate ev/s (50% of capacity) | valid runs | p99 ms median [min–max] | load worker 1 µs/msg | broker µs/msg | bare subscriber µs/msg | aggregator µs/msg |
      | --- | --- | --- | --- | --- | --- | --- | --- |
      | bare | 5000 (of 10000) | 2/2 | — | 30.0 [30.0–30.0] | 40.0 [40.0–40.0] | 20.0 [20.0–20.0] | — |
      | ⚠ memory | 4000 (of 8000) | 1/2 | 91.6 [31.3–152] | 30.0 [30.0–30.0] | 40.0 [40.0–40.0] | — | 20.0 [20.0–20.0] |
      | redis | not run: no valid run in the capacity pass (1 invalid, 0 could not complete) | — | — | — | — | — | — |"
    `);
  });

  it('names the invalid run at that share with its reasons, keeps its figures in the medians, and is left out when the pass was off', () => {
    const text = renderPerf(report);
    expect(text).toContain('then 2 capacity variants × 2 again at 50% of their capacity (open model)');
    expect(text).toMatch(/⚠ 2 runs invalid \(their figures are in the medians\): redis r1: the generator fell behind · memory at 50% r2: the generator offered 3500 ev\/s/);
    const { at_capacity: _off, ...without } = report;
    expect(perfAtCapacityTable(without)).toBeNull();
    expect(renderPerf(without)).not.toContain('of capacity');
  });
});
