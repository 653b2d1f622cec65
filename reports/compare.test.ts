import { describe, expect, it } from 'vitest';
import type { RunFigures } from '../engine/figures.ts';
import { COMPARE_SCHEMA, cpuBasis, escapeCell, renderCompare, renderCompareSummary, summarizeVariants, type CompareReport, type CompareRun } from './compare.ts';
import { rangesOverlap, ratio, summarize } from '../commands/campaign/summary.ts';
import { runFigures } from '../test-support/campaign-fixtures.ts';

const figures = runFigures;

/** Runs of the variants in the interleaved order, replicate by replicate. */
function report(variants: { name: string; aggregator?: 'reference' | 'none'; runs: (Partial<RunFigures> & { invalid?: string; error?: string })[] }[]): CompareReport {
  const replicates = Math.max(...variants.map((v) => v.runs.length));
  const runs: CompareRun[] = [];
  for (let k = 0; k < replicates; k++) {
    for (const v of variants) {
      const spec = v.runs[k];
      if (!spec) continue;
      const { invalid, error, ...changes } = spec;
      const aggregator = v.aggregator ?? 'reference';
      runs.push({
        order: runs.length + 1,
        variant: v.name,
        replicate: k + 1,
        out_dir: `/tmp/out/${v.name}-r${k + 1}`,
        run_id: error ? null : `run-${runs.length + 1}`,
        aggregator,
        valid: invalid === undefined && error === undefined,
        invalid_reasons: invalid ? [invalid] : error ? [`the run could not complete: ${error}`] : [],
        passed: error ? null : true,
        error: error ?? null,
        figures: error
          ? null
          : figures(aggregator === 'none' ? { p50_ms: null, p99_ms: null, p99_9_ms: null, loss_rate: null, sink_duplicates: null, lost: null, ...changes } : changes),
      });
    }
  }
  return {
    schema: COMPARE_SCHEMA,
    command: 'npm run compare -- --scenario dup-storm --dedup memory,sqlite',
    scenario: 'dup-storm',
    seed: 42,
    replicates,
    axis: { flag: '--dedup', field: 'aggregator.dedup' },
    variants: variants.map((v) => ({ name: v.name, value: v.name, aggregator: v.aggregator ?? 'reference' })),
    load: 'storm 1000/s for 10 s (after 2 s of warm-up)',
    broker: 'embedded',
    machine: { node: 'v20.19.0', platform: 'linux', arch: 'x64', cpus: 2, cpu_model: 'Test CPU', total_memory_gb: 8 },
    git_sha: '0123456789abcdef0123',
    started_at: '2026-11-25T14:00:00.000Z',
    finished_at: '2026-11-25T14:03:05.000Z',
    runs,
  };
}

/** The cells of a markdown table row, split at pipes that are not escaped. */
function cells(row: string): string[] {
  return row
    .trim()
    .replace(/^\|/, '')
    .replace(/\|$/, '')
    .split(/(?<!\\)\|/)
    .map((c) => c.trim());
}

/** The variant table's rows (the first table in the document), by variant cell. */
function variantRows(markdown: string): string[][] {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => l.startsWith('| variant |'));
  const rows: string[][] = [];
  for (let i = start; i < lines.length && lines[i]!.startsWith('|'); i++) rows.push(cells(lines[i]!));
  return rows;
}

describe('summarize', () => {
  it('gives the median, range and quartiles of the finite values', () => {
    expect(summarize([3, 1, 2])).toEqual({ n: 3, median: 2, min: 1, max: 3, q1: 1.5, q3: 2.5, iqr: 1 });
    expect(summarize([4, 1, 3, 2])).toMatchObject({ n: 4, median: 2.5, min: 1, max: 4 });
    expect(summarize([5, null, undefined, Number.NaN])).toMatchObject({ n: 1, median: 5, min: 5, max: 5, iqr: 0 });
    expect(summarize([])).toBeNull();
    expect(summarize([null])).toBeNull();
  });

  it('has no ratio to zero or to nothing, and sees touching ranges as overlapping', () => {
    expect(ratio(5, 2)).toBe(2.5);
    expect(ratio(5, 0)).toBeNull();
    expect(ratio(null, 2)).toBeNull();
    expect(ratio(5, undefined)).toBeNull();
    expect(rangesOverlap({ min: 1, max: 2 }, { min: 2, max: 3 })).toBe(true);
    expect(rangesOverlap({ min: 1, max: 2 }, { min: 2.5, max: 3 })).toBe(false);
  });
});

describe('renderCompare', () => {
  const twoVariants = () =>
    report([
      { name: 'memory', runs: [{ committed_per_s: 1000, p99_ms: 10 }, { committed_per_s: 900, p99_ms: 12 }, { committed_per_s: 1100, p99_ms: 11 }] },
      { name: 'sqlite', runs: [{ committed_per_s: 500, p99_ms: 22 }, { committed_per_s: 450, p99_ms: 30 }, { committed_per_s: 2000, p99_ms: 20 }] },
    ]);

  it('shows each variant’s medians and ranges, and the ratios of the medians to the first variant', () => {
    const md = renderCompare(twoVariants());
    const [header, , memory, sqlite] = variantRows(md);
    expect(header).toEqual([
      'variant',
      'valid runs',
      'committed ev/s median [min–max]',
      '× ev/s',
      '× ev/s per round median [min–max]',
      'p50 ms',
      'p99 ms median [min–max]',
      '× p99',
      'p99.9 ms',
      'duplicate rate',
      'loss rate',
    ]);
    expect(memory).toEqual(['memory', '3/3', '1000 [900–1100]', '1.00×', '—', '5.00', '11.0 [10.0–12.0]', '1.00×', '20.0', '20.00%', '0.00%']);
    // sqlite: median 500 of [450, 500, 2000] overlaps memory's 900–1100 (~); p99 median 22 of [20, 22, 30] does not overlap 10–12.
    // Per round: 500/1000, 450/900, 2000/1100.
    expect(sqlite).toEqual(['sqlite', '3/3', '500 [450–2000]', '0.50× ~', '0.50× [0.50×–1.82×]', '5.00', '22.0 [20.0–30.0]', '2.00×', '20.0', '20.00%', '0.00%']);
    expect(md.split('\n')[0]).toBe('**All 6 runs valid**');
  });

  it('puts the command, scenario, seed, replicates, interleaving and machine in the header', () => {
    const md = renderCompare(twoVariants());
    expect(md).toContain('```sh\nnpm run compare -- --scenario dup-storm --dedup memory,sqlite\n```');
    expect(md).toContain('seed 42');
    expect(md).toContain('2 variants by `--dedup` (aggregator.dedup) × 3 replicates = 6 runs, interleaved: memory sqlite × 3');
    expect(md).toContain('machine: Test CPU × 2 · 8 GB · node v20.19.0 · linux/x64 · git 0123456789ab');
    expect(md).toContain('took 3 min 5 s');
    // The runs table lists them in the order they were made: A B A B A B.
    const runRows = md.split('\n').filter((l) => /^\| \d+ \|/.test(l)).map((l) => cells(l).slice(0, 3).join(' '));
    expect(runRows).toEqual(['1 memory 1/3', '2 sqlite 1/3', '3 memory 2/3', '4 sqlite 2/3', '5 memory 3/3', '6 sqlite 3/3']);
  });

  it('computes medians of an even number of runs and takes the rates’ medians', () => {
    const md = renderCompare(
      report([
        { name: 'a', runs: [{ committed_per_s: 100, loss_rate: 0.01 }, { committed_per_s: 300, loss_rate: 0.03 }] },
        { name: 'b', runs: [{ committed_per_s: 50, loss_rate: 0 }, { committed_per_s: 250, loss_rate: 0.5 }] },
      ]),
    );
    const [, , a, b] = variantRows(md);
    expect(a![2]).toBe('200 [100–300]');
    expect(a![10]).toBe('2.00%');
    expect(b![2]).toBe('150 [50–250]');
    expect(b![3]).toBe('0.75× ~');
    expect(b![10]).toBe('25.00%');
  });

  it('divides each round by the first variant’s run of the same round, so that drift between rounds cancels out', () => {
    // The machine got three times faster for round 3 (a) and for rounds 2 and 3 (b, which runs after a):
    // the ratio of medians (2700 / 1000) mixes rounds, the per-round ratios do not.
    const r = report([
      { name: 'a', runs: [{ committed_per_s: 1000 }, { committed_per_s: 1000 }, { committed_per_s: 3000 }] },
      { name: 'b', runs: [{ committed_per_s: 900 }, { committed_per_s: 2700 }, { committed_per_s: 2700 }] },
    ]);
    const [, b] = summarizeVariants(r);
    expect(b!.throughput_ratio).toBeCloseTo(2.7, 9);
    expect(b!.throughput_per_round).toMatchObject({ n: 3, median: 0.9, min: 0.9 });
    expect(b!.throughput_per_round!.max).toBeCloseTo(2.7, 9);
    expect(variantRows(renderCompare(r))[3]![4]).toBe('0.90× [0.90×–2.70×]');
    expect(renderCompare(r)).toContain('× ev/s per round: in each round (replicate)');
    // One round: nothing to show per round.
    const once = report([{ name: 'a', runs: [{ committed_per_s: 1000 }] }, { name: 'b', runs: [{ committed_per_s: 900 }] }]);
    expect(variantRows(renderCompare(once))[0]).not.toContain('× ev/s per round median [min–max]');
    expect(renderCompare(once)).not.toContain('× ev/s per round:');
  });

  it('marks a variant with an invalid run, and a run that did not complete, and says why', () => {
    const md = renderCompare(
      report([
        { name: 'memory', runs: [{}, {}, {}] },
        { name: 'sqlite', runs: [{ committed_per_s: 800 }, { invalid: 'the generator fell behind its schedule', committed_per_s: 100 }, { error: 'broker unreachable' }] },
      ]),
    );
    expect(md.split('\n')[0]).toBe('**2 of 6 runs INVALID** — sqlite r2, sqlite r3; their variants are marked ⚠');
    const [, , memory, sqlite] = variantRows(md);
    expect(memory![0]).toBe('memory');
    expect(sqlite![0]).toBe('⚠ sqlite');
    expect(sqlite![1]).toBe('1/3');
    // The invalid run that completed is in the median; the one that did not has no figures.
    expect(sqlite![2]).toBe('450 [100–800]');
    expect(md).toContain('## Invalid runs');
    expect(md).toContain('- sqlite r2 (run 4 of 6): the generator fell behind its schedule');
    expect(md).toContain('- sqlite r3 (run 6 of 6): did not complete: broker unreachable');
    expect(md).toContain('⚠ marks a variant with an invalid run');
    expect(md).toMatch(/\| 4 \| sqlite \| 2\/3 \|.*\| \*\*INVALID\*\* \|/);
    expect(md).toMatch(/\| 6 \| sqlite \| 3\/3 \| — \|.*\| \*\*error\*\* \| — \|/);
  });

  it('escapes variant names that would break the table', () => {
    const md = renderCompare(
      report([
        { name: 'a|b', runs: [{}] },
        { name: 'x\ny*z*_`c`', runs: [{ committed_per_s: 2000 }] },
      ]),
    );
    const rows = variantRows(md);
    expect(rows.every((row) => row.length === rows[0]!.length)).toBe(true);
    expect(rows[2]![0]).toBe('a\\|b');
    expect(rows[3]![0]).toBe('x y\\*z\\*\\_\\`c\\`');
    expect(rows[3]![3]).toBe('2.00×');
    expect(md).toContain('interleaved: a\\|b x y\\*z\\*\\_\\`c\\`');
    const runRows = md.split('\n').filter((l) => /^\| \d+ \|/.test(l));
    expect(runRows.map((l) => cells(l).length)).toEqual([12, 12]);
    expect(escapeCell('p|q\\r')).toBe('p\\|q\\\\r');
  });

  it('does not let a backtick in the command close its code block', () => {
    const r = twoVariants();
    r.command = "npm run compare -- --vary 'aggregator.dedup=```,x'";
    expect(renderCompare(r)).toContain("````sh\nnpm run compare -- --vary 'aggregator.dedup=```,x'\n````");
  });

  it('shows a bare subscriber without latency or loss figures, and no p99 ratio to it', () => {
    const md = renderCompare(
      report([
        { name: 'bare', aggregator: 'none', runs: [{ committed_per_s: 4000 }, { committed_per_s: 4200 }] },
        { name: 'reference', runs: [{ committed_per_s: 1000 }, { committed_per_s: 1000 }] },
      ]),
    );
    const [, , bare, reference] = variantRows(md);
    expect(bare).toEqual(['bare', '2/2', '4100 [4000–4200]', '1.00×', '—', '—', '—', '—', '—', '20.00%', '—']);
    expect(reference!.slice(2, 8)).toEqual(['1000 [1000–1000]', '0.24×', '0.24× [0.24×–0.25×]', '5.00', '10.0 [10.0–10.0]', '—']);
    expect(md).toContain('A bare subscriber acknowledges on receipt');
  });

  it("gives each process's CPU µs per message, median [min–max] per variant, the generator's threads first and the harness as a whole last; no table when no run measured it", () => {
    const cpu = (worker: number, consumer: string, us: number) => ({ cpu_us_per_message: { 'harness, all threads': worker + 5, broker: 30, [consumer]: us, 'load worker 1': worker } });
    const md = renderCompare(
      report([
        { name: 'bare', aggregator: 'none', runs: [cpu(40, 'bare subscriber', 12), cpu(44, 'bare subscriber', 14)] },
        { name: 'memory', runs: [cpu(41, 'aggregator', 23), { cpu_us_per_message: null }] },
      ]),
    );
    const section = md.slice(md.indexOf('## CPU per message'));
    const rows = section.split('\n').filter((line) => line.startsWith('| '));
    expect(rows[0]).toBe('| variant | load worker 1 µs/msg | broker µs/msg | bare subscriber µs/msg | aggregator µs/msg | harness, all threads µs/msg |');
    expect(rows[2]).toBe('| bare | 42.0 [40.0–44.0] | 30.0 [30.0–30.0] | 13.0 [12.0–14.0] | — | 47.0 [45.0–49.0] |');
    expect(rows[3]).toBe('| memory | 41.0 [41.0–41.0] | 30.0 [30.0–30.0] | — | 23.0 [23.0–23.0] | 46.0 [46.0–46.0] |');
    expect(renderCompare(report([{ name: 'old', runs: [{}] }]))).not.toContain('## CPU per message');
    // These runs' figures have no cpu_includes_startup: stored before start-up was split off, and said so.
    expect(section).toMatch(/over the whole run, each process's start-up included/);
  });

  it("says whether the CPU figures leave each process's start-up out, include it, or mix the two", () => {
    const run = (includes?: boolean) => ({ figures: { cpu_us_per_message: { broker: 30 }, ...(includes === undefined ? {} : { cpu_includes_startup: includes }) } as unknown as RunFigures });
    expect(cpuBasis([run(false), run(false), { figures: null }])).toMatch(/^from the start of the load schedule: each process's start-up .* is left out/);
    expect(cpuBasis([run(true), run()])).toMatch(/^over the whole run, each process's start-up included/);
    expect(cpuBasis([run(false), run(), run(false)])).toBe(
      "from the start of the load schedule, except 1 of the 3 runs (stored before start-up was split off), whose figures include their processes' start-up and are higher by it",
    );
    const md = renderCompare(report([{ name: 'a', runs: [{ cpu_us_per_message: { broker: 30 }, cpu_includes_startup: false }] }]));
    expect(md.slice(md.indexOf('## CPU per message'))).toMatch(/from the start of the load schedule: each process's start-up/);
  });

  it('adds an overloaded column only when some phase was overloaded, with in how many runs', () => {
    const plain = renderCompare(report([{ name: 'a', runs: [{}] }]));
    expect(plain).not.toContain('overloaded phases');
    const md = renderCompare(
      report([
        { name: 'a', runs: [{}, {}] },
        { name: 'b', runs: [{ overloaded_phases: ['storm'] }, {}] },
      ]),
    );
    const [header, , a, b] = variantRows(md);
    expect(header!.at(-1)).toBe('overloaded phases');
    expect(a!.at(-1)).toBe('—');
    expect(b!.at(-1)).toBe('storm (1/2)');
  });

  it('summarises the same figures for compare.json, and prints the verdict and table alone', () => {
    const r = twoVariants();
    const [memory, sqlite] = summarizeVariants(r);
    expect(memory!.committed_per_s).toMatchObject({ median: 1000, min: 900, max: 1100 });
    expect(sqlite!.throughput_ratio).toBe(0.5);
    expect(sqlite!.p99_ratio).toBe(2);
    expect(sqlite!.p99_overlaps).toBe(false);
    const summary = renderCompareSummary(r);
    expect(summary.split('\n')[0]).toBe('**All 6 runs valid**');
    expect(summary).toContain('| sqlite | 3/3 | 500 [450–2000] |');
    expect(summary).not.toContain('## Runs');
  });
});
