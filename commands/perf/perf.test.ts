// `npm run perf` for real and short (the suite's smoke test of a benchmark, no timing asserted): one
// replicate of 2-s runs of the bare subscriber and memory dedup, as a user runs it, then each again
// at half its capacity, then both at one rate; the three tables and perf.json hold real numbers, and the targets whose variants
// did not run say "not measured". Then the second pass's planning with a stand-in for the runs: the
// rates it derives, a variant it skips and why, and --at-capacity off.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { PerfReport } from '../../reports/perf.ts';
import { tempDir, tempDirs } from '../../test-support/temp-dirs.ts';
import { runChaosbench } from '../../test-support/run-command.ts';
import { fakeRun } from '../../test-support/campaign-fixtures.ts';
import { identifyMqttBroker } from '../../engine/broker/external.ts';
import { RELAY_SOFTWARE } from '../../engine/broker/relay.ts';
import type { RunOptions } from '../../engine/run.ts';
import { autoCostRate, parsePerfArgs, runPerf } from './perf.ts';

const out = tempDir('perf-run');

it('runs bare and memory once each and prints capacity, the ratio to bare and CPU µs per message of every process, then p99 and CPU at half capacity, then CPU of each process at one rate', { timeout: 300_000 }, async () => {
  const outcome = await runChaosbench('perf', ['--replicates', '1', '--duration', '2s', '--variants', 'bare,memory', '--out', out, '--quiet'], { timeout_ms: 290_000 });
  expect(outcome.code, outcome.stderr).toBe(0);
  const report = JSON.parse(readFileSync(join(out, 'perf.json'), 'utf8')) as PerfReport;
  expect(report.runs.map((r) => r.variant)).toEqual(['bare', 'memory']);
  for (const run of report.runs) {
    expect(run.error).toBeNull();
    expect(run.figures!.committed_per_s).toBeGreaterThan(0);
    const cpu = run.figures!.cpu_us_per_message!;
    expect(Object.keys(cpu)).toEqual(expect.arrayContaining(['harness main thread', 'load worker 1', 'broker', run.variant === 'bare' ? 'bare subscriber' : 'aggregator']));
    for (const us of Object.values(cpu)) expect(us).toBeGreaterThan(0);
    // Split at the load's end: every process and the harness as a whole, each more than 0.
    expect(Object.keys(run.figures!.cpu_us_per_message_during_load!).sort()).toEqual(Object.keys(cpu).sort());
    for (const us of Object.values(run.figures!.cpu_us_per_message_during_load!)) expect(us).toBeGreaterThan(0);
    expect(run.figures!.harness_busy_share).toBeGreaterThan(0);
    expect(run.figures!.harness_busy_share).toBeLessThanOrEqual(1.05);
  }
  const row = (name: string) => outcome.stdout.split('\n').find((line) => line.startsWith(`| ${name} |`) || line.startsWith(`| ⚠ ${name} |`))!;
  // capacity median [min–max], the ratio to bare, then a µs figure per process.
  const us = /(?<= )[\d.]+ \[[\d.]+–[\d.]+\](?= \|)/g;
  // The last three cells: the busiest process and its cores, the harness's share of the CPU while the
  // load ran, the share of it the harness's busiest thread had work.
  const busiest = / \| (broker|bare subscriber|aggregator|load worker 1|harness main thread) [\d.]+ \[[\d.]+–[\d.]+\] \| [\d.]+% \[[\d.]+%–[\d.]+%\] \| [\d.]+% \[[\d.]+%–[\d.]+%\] \|$/;
  expect(row('bare')).toMatch(busiest);
  expect(row('memory')).toMatch(busiest);
  const withoutBusiest = (name: string) => row(name).replace(busiest, ' |');
  expect(withoutBusiest('bare')).toMatch(/\| \d+ \[\d+–\d+\] \| 1\.00× \| — \|( ([\d.]+ \[[\d.]+–[\d.]+\]|—) \|)+$/);
  expect(withoutBusiest('memory')).toMatch(/\| \d+ \[\d+–\d+\] \| \d\.\d\d× \| \d\.\d\d× \[[\d.×–]+\] \|( ([\d.]+ \[[\d.]+–[\d.]+\]|—) \|)+$/);
  // Capacity, then a µs figure for the load worker, the main thread, the broker, the consumer and the harness as a whole.
  for (const name of ['bare', 'memory']) expect(withoutBusiest(name).match(us)?.length, row(name)).toBe(6);
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

  // The third pass: both at one rate, half the lower capacity (rounded down to 100 ev/s from 200 up).
  const one = report.at_rate!;
  const lower = Math.min(...report.runs.map((r) => r.figures!.committed_per_s));
  expect(one.rate_per_s).toBe(lower / 2 >= 200 ? Math.floor(lower / 2 / 100) * 100 : Math.max(1, Math.floor(lower / 2)));
  expect(one.runs.map((r) => [r.variant, r.error, r.figures!.target_per_s])).toEqual([
    ['bare', null, one.rate_per_s],
    ['memory', null, one.rate_per_s],
  ]);
  for (const run of one.runs) for (const us of Object.values(run.figures!.cpu_us_per_message!)) expect(us).toBeGreaterThan(0);
  const costRow = (name: string) => outcome.stdout.split('\n').find((line) => line.startsWith(`| ${name} |`))!;
  expect(outcome.stdout).toMatch(new RegExp(`^\\| CPU µs per message at ${one.rate_per_s} ev/s \\| (⚠ )?bare \\| (⚠ )?memory \\|$`, 'm'));
  for (const name of ['harness main thread', 'load worker 1', 'broker', 'subscriber or aggregator', '**all processes**']) expect(costRow(name), name).toMatch(/^\| .+? \| [\d.]+ \[[\d.]+–[\d.]+\] \| [\d.]+ \[[\d.]+–[\d.]+\] \|$/);
});

it('exits 2 naming the flag for a bad replicate count or an unknown variant, running nothing', async () => {
  const outcome = await runChaosbench('perf', ['--replicates', '0', '--variants', 'bare,nope', '--at-capacity', '1.5', '--cost-rate', '1e999', '--generator-concurrency', '0.5']);
  expect(outcome.code).toBe(2);
  expect(outcome.stderr).toContain("--cost-rate must be auto, off or a whole number of ev/s from 1 to 1,000,000, got '1e999'");
  expect(outcome.stderr).toContain("--at-capacity must be a fraction in (0, 1] like 0.5, or off, got '1.5'");
  expect(outcome.stderr).toContain("--replicates must be an integer >= 1, got '0'");
  expect(outcome.stderr).toContain("--generator-concurrency must be an integer >= 1, got '0.5'");
  expect(outcome.stderr).toContain("--variants: unknown variant 'nope'");
  expect(outcome.stderr).not.toMatch(/\n\s+at /);
});

it('runs the generator-capacity variants with --generator-concurrency in flight (8000 by default), the capacity variants with --concurrency', async () => {
  const inFlight = async (argv: string[]) => {
    const plan = await parsePerfArgs(['--variants', 'bare,memory,generator,generator-mosquitto,generator-10k', ...argv]);
    return Object.fromEntries(plan.variants.map(({ variant, run }) => [variant.name, `${run.scenario.load.model} ${run.scenario.load.concurrency}`]));
  };
  expect(await inFlight([])).toMatchObject({ bare: 'closed 1000', memory: 'closed 1000', generator: 'closed 8000', 'generator-mosquitto': 'closed 8000', 'generator-10k': expect.stringMatching(/^open /) });
  expect(await inFlight(['--concurrency', '2000', '--generator-concurrency', '3000'])).toMatchObject({ bare: 'closed 2000', memory: 'closed 2000', generator: 'closed 3000', 'generator-mosquitto': 'closed 3000' });
});

/** Two capacity rounds for the stand-in: bare and memory valid, redis invalid once and unreachable once. */
const capacity = {
  'bare-r1': { committed: 10_000 },
  'memory-r1': { committed: 8_000 },
  'redis-r1': { committed: 6_000, valid: false },
  'bare-r2': { committed: 10_400 },
  'memory-r2': { committed: 8_400 },
  'redis-r2': { committed: 0, throws: 'Redis unreachable' },
};

describe('the pass at a share of capacity, with a stand-in for the runs', () => {
  const dirs = tempDirs('perf-plan');

  it("runs each variant with a valid capacity run at the share of its median capacity, and skips the others saying why", async () => {
    const dir = dirs();
    const plan = await parsePerfArgs(['--replicates', '2', '--variants', 'bare,memory,redis', '--at-capacity', '0.25', '--cost-rate', 'off', '--out', dir]);
    const { run, calls } = fakeRun({ ...capacity, 'bare-at25-r1': { committed: 2_550 }, 'memory-at25-r1': { committed: 2_050 }, 'bare-at25-r2': { committed: 2_550 }, 'memory-at25-r2': { committed: 2_000, valid: false } });
    const lines: string[] = [];
    const { report, exit } = await runPerf(plan, { run, log: (line) => lines.push(line) });
    expect(exit).toBe(3); // a capacity run could not complete
    const second = calls.slice(6);
    expect(second.map((c) => c.out_dir.split('/').at(-1))).toEqual(['bare-at25-r1', 'memory-at25-r1', 'bare-at25-r2', 'memory-at25-r2']);
    expect(second.map((c) => [c.scenario.load.model, c.scenario.phases[0]!.rate, c.scenario.phases[1]!.rate, c.aggregator])).toEqual([
      ['open', 2_550, 2_550, 'none'],
      ['open', 2_050, 2_050, 'reference'],
      ['open', 2_550, 2_550, 'none'],
      ['open', 2_050, 2_050, 'reference'],
    ]);
    expect(report.at_capacity).toMatchObject({
      fraction: 0.25,
      rates: [
        { variant: 'bare', capacity_per_s: 10_200, rate_per_s: 2_550 },
        { variant: 'memory', capacity_per_s: 8_200, rate_per_s: 2_050 },
      ],
      skipped: [{ variant: 'redis', reason: 'no valid run in the capacity pass (1 invalid, 1 could not complete)' }],
    });
    expect(report.at_capacity!.runs.map((r) => [r.order, r.variant, r.valid])).toEqual([
      [7, 'bare', true],
      [8, 'memory', true],
      [9, 'bare', true],
      [10, 'memory', false],
    ]);
    expect(lines).toContain('redis: not run at 25% of capacity: no valid run in the capacity pass (1 invalid, 1 could not complete)');
    expect(lines.at(-1)).toMatch(/^\[10\/10\] memory at 25% \(2050 ev\/s\) r2\/2  committed 2000 ev\/s  p99 [\d.]+ ms  INVALID: the generator fell behind its schedule$/);
    const md = readFileSync(join(dir, 'perf.md'), 'utf8');
    expect(md).toMatch(/^\| ⚠ memory \| 2050 \(of 8200\) \| 1\/2 \| [\d.]+ \[[\d.]+–[\d.]+\] \|/m);
    expect(md).toContain('| redis | not run: no valid run in the capacity pass (1 invalid, 1 could not complete) | — | — |');
    expect((JSON.parse(readFileSync(join(dir, 'perf.json'), 'utf8')) as PerfReport).at_capacity!.runs).toHaveLength(4);
  });

  it('--at-capacity off runs the capacity pass only', async () => {
    const dir = dirs();
    const plan = await parsePerfArgs(['--replicates', '2', '--variants', 'bare,memory,redis', '--at-capacity', 'off', '--cost-rate', 'off', '--out', dir]);
    const { run, calls } = fakeRun(capacity);
    const { report } = await runPerf(plan, { run });
    expect(calls).toHaveLength(6);
    expect(report.at_capacity).toBeUndefined();
    expect(readFileSync(join(dir, 'perf.md'), 'utf8')).not.toContain('of capacity');
  });
});

describe('the pass at one rate (--cost-rate), with a stand-in for the runs', () => {
  const dirs = tempDirs('perf-cost');

  it('auto: every variant with a valid capacity run at half the lowest median capacity, rounded down to 100 ev/s, one column per variant and one row per process', async () => {
    const dir = dirs();
    const plan = await parsePerfArgs(['--replicates', '2', '--variants', 'bare,memory,redis', '--at-capacity', 'off', '--out', dir]);
    expect(plan.cost_rate).toEqual({ kind: 'auto' });
    const { run, calls } = fakeRun({ ...capacity, 'bare-cost4100-r1': { committed: 4_100 }, 'memory-cost4100-r1': { committed: 4_090 }, 'bare-cost4100-r2': { committed: 4_100 }, 'memory-cost4100-r2': { committed: 4_000, valid: false } });
    const lines: string[] = [];
    const { report, exit } = await runPerf(plan, { run, log: (line) => lines.push(line) });
    expect(exit).toBe(3); // a capacity run could not complete
    expect(calls.slice(6).map((c) => [c.out_dir.split('/').at(-1), c.scenario.load.model, c.scenario.phases.map((p) => p.rate)])).toEqual([
      ['bare-cost4100-r1', 'open', [4_100, 4_100]],
      ['memory-cost4100-r1', 'open', [4_100, 4_100]],
      ['bare-cost4100-r2', 'open', [4_100, 4_100]],
      ['memory-cost4100-r2', 'open', [4_100, 4_100]],
    ]);
    expect(report.at_capacity).toBeUndefined();
    expect(report.at_rate).toMatchObject({
      rate_per_s: 4_100,
      basis: '50% of the lowest capacity (memory, 8,200 ev/s), rounded down',
      variants: ['bare', 'memory'],
      skipped: [{ variant: 'redis', reason: 'no valid run in the capacity pass (1 invalid, 1 could not complete)' }],
    });
    expect(report.at_rate!.runs.map((r) => [r.order, r.variant])).toEqual([
      [7, 'bare'],
      [8, 'memory'],
      [9, 'bare'],
      [10, 'memory'],
    ]);
    expect(lines).toContain('redis: not run at 4100 ev/s: no valid run in the capacity pass (1 invalid, 1 could not complete)');
    const md = readFileSync(join(dir, 'perf.md'), 'utf8');
    // The fixture's run: harness main thread 55.159, load worker 1 197.767, harness 320.194, broker 150.679, aggregator 125.118 µs.
    expect(md).toContain('| CPU µs per message at 4100 ev/s | bare | ⚠ memory |');
    expect(md).toContain('| load worker 1 | 198 [198–198] | 198 [198–198] |');
    expect(md).toContain('| broker | 151 [151–151] | 151 [151–151] |');
    expect(md).toContain('| subscriber or aggregator | 125 [125–125] | 125 [125–125] |');
    expect(md).toContain('| **all processes** | 596 [596–596] | 596 [596–596] |');
    expect(md).toContain('| committed ev/s | 4100 [4100–4100] | 4045 [4000–4090] |');
    expect(md).toContain('| valid runs | 2/2 | 1/2 |');
    expect(md).toContain('- redis: not run at 4100 ev/s: no valid run in the capacity pass (1 invalid, 1 could not complete)');
    expect(md).toContain("memory at 4100 ev/s r2: the generator fell behind its schedule");
  });

  it('a given rate runs after the pass at a share of capacity, numbered on; off runs no third pass', async () => {
    const dir = dirs();
    const plan = await parsePerfArgs(['--replicates', '1', '--variants', 'bare,memory', '--at-capacity', '0.5', '--cost-rate', '3000', '--out', dir]);
    const { run, calls } = fakeRun({ 'bare-r1': { committed: 10_000 }, 'memory-r1': { committed: 8_000 }, 'bare-at50-r1': { committed: 5_000 }, 'memory-at50-r1': { committed: 4_000 }, 'bare-cost3000-r1': { committed: 3_000 }, 'memory-cost3000-r1': { committed: 3_000 } });
    const { report, exit } = await runPerf(plan, { run });
    expect(exit).toBe(0);
    expect(calls.map((c) => c.out_dir.split('/').at(-1))).toEqual(['bare-r1', 'memory-r1', 'bare-at50-r1', 'memory-at50-r1', 'bare-cost3000-r1', 'memory-cost3000-r1']);
    expect(report.at_rate).toMatchObject({ rate_per_s: 3_000, basis: '--cost-rate 3000', variants: ['bare', 'memory'], skipped: [] });
    expect(report.at_rate!.runs.map((r) => r.order)).toEqual([5, 6]);

    // A run of the third pass that cannot complete: exit 3, as in the other passes; its error is in the report.
    const failing = await runPerf(await parsePerfArgs(['--replicates', '1', '--variants', 'bare,memory', '--at-capacity', 'off', '--cost-rate', '3000', '--out', dirs()]), {
      run: fakeRun({ 'bare-r1': { committed: 10_000 }, 'memory-r1': { committed: 8_000 }, 'bare-cost3000-r1': { committed: 3_000 }, 'memory-cost3000-r1': { committed: 0, throws: 'Redis unreachable' } }).run,
    });
    expect(failing.exit).toBe(3);
    expect(failing.report.at_rate!.runs.map((r) => [r.variant, r.error])).toEqual([
      ['bare', null],
      ['memory', expect.stringContaining('Redis unreachable')],
    ]);

    const offDir = dirs();
    const off = await runPerf(await parsePerfArgs(['--replicates', '1', '--variants', 'bare,memory', '--at-capacity', 'off', '--cost-rate', 'off', '--out', offDir]), { run: fakeRun({ 'bare-r1': { committed: 10_000 }, 'memory-r1': { committed: 8_000 } }).run });
    expect(off.report.at_rate).toBeUndefined();
    expect(readFileSync(join(offDir, 'perf.md'), 'utf8')).not.toContain('At one rate');
  });

  it('auto with no valid capacity run says so and runs nothing more', async () => {
    const dir = dirs();
    const plan = await parsePerfArgs(['--replicates', '1', '--variants', 'bare,memory', '--at-capacity', 'off', '--out', dir]);
    const { run, calls } = fakeRun({ 'bare-r1': { committed: 0, throws: 'broker down' }, 'memory-r1': { committed: 10, valid: false } });
    const lines: string[] = [];
    const { report } = await runPerf(plan, { run, log: (line) => lines.push(line) });
    expect(calls).toHaveLength(2);
    expect(report.at_rate).toBeUndefined();
    expect(lines).toContain('pass 3 not run: --cost-rate auto needs a capacity, and no capacity variant has a valid run with one');
  });

  it('autoCostRate: half the lowest capacity, to 100 ev/s from 200 up, whole ev/s below, never 0', () => {
    expect(autoCostRate([])).toBeNull();
    expect(autoCostRate([{ variant: 'bare', capacity_per_s: 31_348 }, { variant: 'postgres', capacity_per_s: 7_999.5 }])?.rate_per_s).toBe(3_900);
    expect(autoCostRate([{ variant: 'memory', capacity_per_s: 399 }])?.rate_per_s).toBe(199);
    expect(autoCostRate([{ variant: 'memory', capacity_per_s: 1.5 }])?.rate_per_s).toBe(1);
  });
});

/** Whether a process with this pid exists (signal 0 checks without sending anything). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('the generator variants\' brokers, with a stand-in for the runs', () => {
  const dirs = tempDirs('perf-brokers');

  it('plans generator on the relay, generator-mosquitto and the generator-rate variants on the private Mosquitto, the others on the embedded broker', async () => {
    const plan = await parsePerfArgs(['--out', dirs()]);
    expect(plan.variants.map((v) => [v.variant.name, v.broker])).toEqual([
      ['bare', 'embedded'],
      ['memory', 'embedded'],
      ['redis', 'embedded'],
      ['sqlite', 'embedded'],
      ['postgres', 'embedded'],
      ['generator', 'relay'],
      ['generator-mosquitto', 'mosquitto'],
      ['generator-10k', 'mosquitto'],
      ['generator-10k-4ms', 'mosquitto'],
    ]);
    expect(plan.variants.filter((v) => v.variant.kind === 'generator-capacity').map((v) => [v.variant.name, v.variant.against])).toEqual([
      ['generator', 'the relay and the bare subscriber'],
      ['generator-mosquitto', 'a private Mosquitto and the bare subscriber'],
    ]);
  });

  it('runs the capacity variants through the relay only when --variants names them, each over bare-relay', async () => {
    const plan = await parsePerfArgs(['--variants', 'bare,bare-relay,memory-relay,redis-relay', '--out', dirs()]);
    expect(plan.variants.map((v) => [v.variant.name, v.broker, v.variant.kind, v.variant.baseline ?? 'bare'])).toEqual([
      ['bare', 'embedded', 'capacity', 'bare'],
      ['bare-relay', 'relay', 'capacity', 'bare-relay'],
      ['memory-relay', 'relay', 'capacity', 'bare-relay'],
      ['redis-relay', 'relay', 'capacity', 'bare-relay'],
    ]);
    expect(plan.variants.find((v) => v.variant.name === 'redis-relay')!.run.scenario.aggregator.dedup).toBe('redis');
  });

  it('starts the relay and a private Mosquitto once, gives each run its broker\'s URL and pid (the broker answers as itself), stops both, and the target lines say what each capacity was measured against', async () => {
    const dir = dirs();
    const plan = await parsePerfArgs(['--replicates', '1', '--variants', 'memory,generator,generator-mosquitto,generator-10k', '--at-capacity', 'off', '--cost-rate', 'off', '--out', dir]);
    const { run: fake } = fakeRun({ 'memory-r1': { committed: 10_000 }, 'generator-r1': { committed: 60_000 }, 'generator-mosquitto-r1': { committed: 15_000 }, 'generator-10k-r1': { committed: 10_000 } });
    const seen: { dir: string; broker: string; software: string | undefined; pid: number | undefined; alive: boolean }[] = [];
    const run = async (options: RunOptions) => {
      const pid = options.external_broker_pid;
      const alive = pid !== undefined && running(pid);
      const software = options.broker === 'embedded' ? undefined : await identifyMqttBroker(options.broker);
      seen.push({ dir: options.out_dir.split('/').at(-1)!, broker: options.broker, software, pid, alive });
      return fake(options);
    };
    const { report, exit } = await runPerf(plan, { run });
    expect(exit).toBe(0);
    const of = (d: string) => seen.find((s) => s.dir === d)!;
    expect(of('memory-r1')).toMatchObject({ broker: 'embedded', pid: undefined });
    expect(of('generator-r1')).toMatchObject({ software: RELAY_SOFTWARE, alive: true });
    expect(of('generator-mosquitto-r1')).toMatchObject({ software: expect.stringMatching(/^mosquitto version \d/), alive: true });
    // One Mosquitto for all its variants, a different process from the relay.
    expect(of('generator-10k-r1')).toMatchObject({ broker: of('generator-mosquitto-r1').broker, pid: of('generator-mosquitto-r1').pid });
    expect(of('generator-r1').pid).not.toBe(of('generator-mosquitto-r1').pid);
    // Both stopped when the command is done.
    expect([of('generator-r1').pid!, of('generator-mosquitto-r1').pid!].map(running)).toEqual([false, false]);
    const lines = readFileSync(join(dir, 'perf.md'), 'utf8').split('\n').filter((line) => line.startsWith('- generator capacity'));
    expect(lines).toEqual([
      '- generator capacity (generator: against the relay and the bare subscriber) ÷ reference aggregator capacity (memory dedup): 6.00 (target ≥ 2) — met; ratio of the medians of committed ev/s of generator and memory',
      "- generator capacity (generator-mosquitto: against a private Mosquitto and the bare subscriber) ÷ reference aggregator capacity (memory dedup): 1.50 (target reported: Mosquitto's ceiling, not the generator's; the target is judged through the relay (generator)) — reported; ratio of the medians of committed ev/s of generator-mosquitto and memory",
    ]);
    expect(report.variants.find((v) => v.name === 'generator')!.against).toBe('the relay and the bare subscriber');
  }, 60_000);
});
