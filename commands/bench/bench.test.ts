// The bench and aggregator command lines as a user runs them: a real `node --import tsx` process
// per case, with its exit code and output. Every case here is bad input or an informational flag,
// so each must end before any broker or aggregator starts; the runs go concurrently to stay fast.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { stringify as toYaml } from 'yaml';
import { dupStorm } from '../../scenarios/shipped/dup-storm.ts';
import { SCENARIOS } from '../../scenarios/index.ts';
import { smoke } from '../../scenarios/shipped/smoke.ts';
import { parseBenchArgs } from './bench.ts';
import { parseDuration } from '../../cli/flags.ts';
import { EXIT, UsageError } from '../../cli/exit.ts';
import { tempDir } from '../../test-support/temp-dirs.ts';
import { runChaosbench, runTypeScript, type CommandOutcome } from '../../test-support/run-command.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
// No time bound on these children: on a shared, loaded machine tsx alone can take seconds to start.
// That nothing was started is shown exactly by the missing RUN_BANNER, and KILL_AFTER_MS stops a
// child that went on to run anyway.
/** Kill a child that went on to run anyway, so a regression fails instead of hanging. */
const KILL_AFTER_MS = 25_000;
/** What the bench prints on stderr just before it starts the broker and the aggregator. */
const RUN_BANNER = 'chaosbench: ';

type Outcome = CommandOutcome;

const bench = (...args: string[]) => runChaosbench('bench', args, { timeout_ms: KILL_AFTER_MS });
const aggregator = (...args: string[]) => runTypeScript('aggregator/main.ts', args, { timeout_ms: KILL_AFTER_MS });

/** Bad input: exit 2, a message on stderr naming the problem, nothing run. */
function expectBadInput(outcome: Outcome, ...named: (string | RegExp)[]): void {
  expect(outcome.signal, outcome.stderr).toBeNull();
  expect(outcome.code, outcome.stderr).toBe(EXIT.bad_input);
  for (const name of named) {
    if (typeof name === 'string') expect(outcome.stderr).toContain(name);
    else expect(outcome.stderr).toMatch(name);
  }
  expect(outcome.stdout).toBe('');
  expect(outcome.stderr).not.toContain(RUN_BANNER);
}

/** Scenario files for the spawned bench, in a temporary directory removed at the end. */
const scenarioDir = tempDir('cli-test');

function scenarioFile(name: string, text: string): string {
  const path = join(scenarioDir, name);
  writeFileSync(path, text);
  return path;
}

describe.concurrent('bench CLI (spawned)', () => {
  it('--list exits 0 and lists dup-storm with its description', async () => {
    const outcome = await bench('--list');
    expect(outcome.code, outcome.stderr).toBe(EXIT.ok);
    const line = outcome.stdout.split('\n').find((l) => l.startsWith('dup-storm'));
    expect(line).toBeDefined();
    expect(line).toContain(dupStorm.description);
    expect(outcome.stderr).toBe('');
  });

  it('--help exits 0 and documents --scenario and the exit codes', async () => {
    const outcome = await bench('--help');
    expect(outcome.code, outcome.stderr).toBe(EXIT.ok);
    expect(outcome.stdout).toContain('--scenario');
    expect(outcome.stdout).toContain('--list');
    expect(outcome.stdout).toMatch(/Exit codes: 0 ok · 1 a check failed \(events lost, never acked, never sent or doubled: also in an invalid run\)\n· 2 bad input · 3 run invalid/);
    expect(outcome.stderr).not.toContain(RUN_BANNER);
  });

  it('--scenario nope exits 2 naming the scenario field and the known scenarios', async () => {
    const outcome = await bench('--scenario', 'nope');
    expectBadInput(outcome, '--scenario', "'nope'", 'dup-storm');
  });

  it('no --scenario at all exits 2 saying it is required', async () => {
    expectBadInput(await bench(), /--scenario is required/);
  });

  it('an unknown flag exits 2 naming the flag', async () => {
    expectBadInput(await bench('--bogus-flag'), 'bogus-flag');
  });

  it('--rate -5 exits 2 naming phases[1].rate', async () => {
    const outcome = await bench('--scenario', 'dup-storm', '--rate', '-5');
    expectBadInput(outcome, 'phases[1].rate must be > 0, got -5');
  });

  it('--rate abc exits 2 naming --rate; a ramp with a negative end names the field', async () => {
    const [word, ramp] = await Promise.all([bench('--scenario', 'dup-storm', '--rate', 'abc'), bench('--scenario', 'dup-storm', '--rate', '100:-5')]);
    expectBadInput(word, /--rate must be events\/s like 2000, or a ramp like 500:4000, got 'abc'/);
    expectBadInput(ramp, 'phases[1].rate.to must be >= 0, got -5');
  });

  it('--payload-bytes larger than the aggregator accepts exits 2 naming load.payload_bytes and both limits', async () => {
    const outcome = await bench('--scenario', 'dup-storm', '--payload-bytes', '1000000', '--rate', '20', '--set', 'phases[0].rate=20', '--duration', '2s');
    expectBadInput(outcome, /load\.payload_bytes must be at most 65525, got 1000000: .* over the aggregator's max_payload_bytes of 65536/);
  });

  it('--workers above --publishers exits 2 naming load.workers', async () => {
    expectBadInput(await bench('--scenario', 'dup-storm', '--workers', '3', '--publishers', '2'), /load\.workers must be <= load\.publishers \(2\)/);
  });

  it('--duration abc exits 2 naming --duration, with or without a scenario', async () => {
    const [alone, withScenario] = await Promise.all([bench('--duration', 'abc'), bench('--scenario', 'dup-storm', '--duration', 'abc')]);
    expectBadInput(alone, /--duration must look like .*'abc'/);
    expectBadInput(withScenario, /--duration must look like .*'abc'/);
  });

  it('--broker http://x exits 2 naming --broker', async () => {
    const [alone, withScenario] = await Promise.all([bench('--broker', 'http://x'), bench('--scenario', 'dup-storm', '--broker', 'http://x')]);
    expectBadInput(alone, /--broker: .*http:\/\/x/);
    expectBadInput(withScenario, /--broker: .*http:\/\/x/);
  });

  it('--dedup mongodb exits 2 naming dedup and the valid kinds', async () => {
    const [alone, withScenario] = await Promise.all([bench('--dedup', 'mongodb'), bench('--scenario', 'dup-storm', '--dedup', 'mongodb')]);
    expectBadInput(alone, /dedup.*'mongodb'.*valid kinds are memory, none, sqlite, .*redis, .*postgres/);
    expectBadInput(withScenario, /dedup.*'mongodb'.*valid kinds are memory, none, sqlite, .*redis, .*postgres/);
  });

  it('--sink foo exits 2 naming --sink and what it accepts, with or without a scenario', async () => {
    const [alone, withScenario] = await Promise.all([bench('--sink', 'foo'), bench('--scenario', 'dup-storm', '--sink', 'foo')]);
    for (const outcome of [alone, withScenario]) {
      expectBadInput(outcome, /--sink: must be sqlite \(the file <out>\/sink.db\), postgres or postgres:\/\/USER@HOST:PORT\/DB, got 'foo'/);
    }
  });

  it('--sink sqlite:PATH and --sink postgres:// (no host) exit 2 naming --sink', async () => {
    const [path, noHost] = await Promise.all([
      bench('--scenario', 'dup-storm', '--sink', 'sqlite:/tmp/elsewhere.db'),
      bench('--scenario', 'dup-storm', '--sink', 'postgres://', '--dedup', 'postgres'),
    ]);
    expectBadInput(path, /--sink: .*got 'sqlite:\/tmp\/elsewhere.db'/);
    expectBadInput(noHost, /--sink: .*names no host/);
  });

  it("--sink postgres beside the sink's SQLite dedup store (--dedup sqlite, or the scenario's own) exits 2 naming both flags", async () => {
    const [explicit, fromScenario, viaSet] = await Promise.all([
      bench('--scenario', 'dup-storm', '--sink', 'postgres', '--dedup', 'sqlite'),
      bench('--scenario', 'dup-storm', '--sink', 'postgres://postgres@127.0.0.1:5432/test'),
      bench('--scenario', 'dup-storm', '--sink', 'postgres', '--dedup', 'postgres', '--set', 'aggregator.dedup=sqlite'),
    ]);
    for (const outcome of [explicit, fromScenario, viaSet]) expectBadInput(outcome, /--dedup sqlite .*--sink postgres .*--dedup postgres/);
  });

  it("docs/commands.md's copy of --help is what --help prints", async () => {
    const outcome = await bench('--help');
    expect(outcome.code, outcome.stderr).toBe(EXIT.ok);
    const commands = readFileSync(join(ROOT, 'docs', 'commands.md'), 'utf8');
    const section = commands.slice(commands.indexOf('## `npm run bench`'));
    const copy = /```\n([\s\S]*?)\n```/.exec(section)?.[1];
    expect(copy).toBe(outcome.stdout.trimEnd());
  });

  it('--help names the scenario fields a run tunes with --set', async () => {
    const outcome = await bench('--help');
    for (const field of ['load.max_lag_ms', 'aggregator.commit_hold_ms', 'drain_timeout_s', 'broker.max_publish_bytes']) expect(outcome.stdout).toContain(`  ${field} `);
  });

  it('--help documents --sink', async () => {
    const outcome = await bench('--help');
    expect(outcome.code, outcome.stderr).toBe(EXIT.ok);
    expect(outcome.stdout).toMatch(/--sink\s+where the aggregator commits and the ledger reads back: sqlite/);
    expect(outcome.stdout).toContain('postgres://USER@HOST:PORT/DB');
  });

  it('--list shows every shipped scenario, one line each', async () => {
    const outcome = await bench('--list');
    expect(outcome.code, outcome.stderr).toBe(EXIT.ok);
    const lines = outcome.stdout.split('\n').filter((line) => line !== '');
    expect(lines).toHaveLength(Object.keys(SCENARIOS).length);
    for (const scenario of Object.values(SCENARIOS)) {
      const line = lines.find((l) => l.split(/\s+/)[0] === scenario.name);
      expect(line, `no line for ${scenario.name} in:\n${outcome.stdout}`).toBeDefined();
      expect(line).toContain(scenario.description);
    }
    expect(outcome.stderr).toBe('');
  });

  it('a YAML scenario file with several errors exits 2 naming the file and each error with its path', async () => {
    type Loose = Record<string, unknown> & { load: Record<string, unknown>; phases: Record<string, unknown>[]; aggregator: Record<string, unknown> };
    const broken = structuredClone(smoke) as unknown as Loose;
    broken.seed = -1;
    broken.load.publishers = 0;
    broken.phases[1]!.rate = -5;
    broken.aggregator.sink_mode = 'sometimes';
    broken.phases[0]!.speed = 'fast';
    const path = scenarioFile('several-errors.yaml', toYaml(broken));
    expectBadInput(
      await bench('--scenario', path),
      `scenario file ${path} is invalid`,
      'seed must be an integer in [0, 2^32), got -1',
      'load.publishers must be an integer in [1, 256], got 0',
      'phases[1].rate must be > 0, got -5',
      `aggregator.sink_mode must be 'idempotent' or 'append', got "sometimes"`,
      'phases[0].speed is not a known field',
    );
  });

  it('a JSON scenario file that does not parse exits 2 naming the file', async () => {
    const path = scenarioFile('truncated.json', '{ "name": "truncated", "seed": 1,');
    expectBadInput(await bench('--scenario', path), `scenario file ${path} does not parse`);
  });

  it('--set with a path that is not a field exits 2 naming it, and only it', async () => {
    const outcome = await bench('--scenario', 'dup-storm', '--set', 'phases[1].rate=300', '--set', 'nope.x=1');
    expectBadInput(outcome, /--set: nope: no such field/);
    expect(outcome.stderr).not.toContain('phases[1]');
  });

  it('reports every bad flag of one command line at once', async () => {
    const outcome = await bench(
      '--scenario', 'dup-storm', '--duration', '2x', '--dedup', 'mongodb', '--broker', 'http://x', '--rate', '-5', '--batch-size', '0',
    );
    expectBadInput(outcome, '--duration', '--dedup', '--broker', 'phases[1].rate', 'aggregator.batch_size');
  });
});

describe.concurrent('aggregator CLI (spawned)', () => {
  it('--batch-size 0 exits 2 naming batch-size', async () => {
    expectBadInput(await aggregator('--batch-size', '0'), 'batch-size must be a positive integer, got 0');
  });

  it('--sink foo exits 2 naming the sink', async () => {
    expectBadInput(await aggregator('--sink', 'foo'), /sink must be sqlite:PATH, got 'foo'/);
  });

  it('names every bad flag at once', async () => {
    expectBadInput(await aggregator('--sink', 'foo', '--batch-size', '0', '--dedup', 'mongodb', '--broker', 'http://x'), 'sink', 'batch-size', 'dedup', 'broker');
  });

  it('--help exits 0 and lists its flags', async () => {
    const outcome = await aggregator('--help');
    expect(outcome.code, outcome.stderr).toBe(0);
    for (const flag of ['--broker', '--dedup', '--sink', '--batch-size']) expect(outcome.stdout).toContain(flag);
  });
});

describe('parseBenchArgs --sink', () => {
  it('defaults to sqlite and records nothing in the overrides', async () => {
    const args = await parseBenchArgs(['--scenario', 'dup-storm']);
    expect(args !== 'listed' && args.sink).toBe('sqlite');
    expect(args !== 'listed' && args.overrides.sink).toBeUndefined();
  });

  it('carries postgres to the run and records it in the overrides (for the replay line)', async () => {
    const bare = await parseBenchArgs(['--scenario', 'dup-storm', '--sink', 'postgres', '--dedup', 'postgres']);
    expect(bare !== 'listed' && [bare.sink, bare.overrides.sink, bare.scenario.aggregator.dedup]).toEqual(['postgres', 'postgres', 'postgres']);
    const url = await parseBenchArgs(['--scenario', 'dup-storm', '--sink', 'postgres://bench@db.example:5432/bench', '--dedup', 'memory']);
    expect(url !== 'listed' && [url.sink, url.overrides.sink]).toEqual(['postgres://bench@db.example:5432/bench', 'postgres://bench@db.example:5432/bench']);
  });

  it('refuses a password in --sink or --dedup (exit 2), naming the flag, the password shown as ***', async () => {
    const refusal = await parseBenchArgs(['--scenario', 'dup-storm', '--sink', 'postgres://bench:secret@db.example:5432/bench', '--dedup', 'redis://:secret@127.0.0.1:6379']).then(
      () => undefined,
      (error: Error) => error,
    );
    expect(refusal).toBeInstanceOf(UsageError);
    expect(refusal!.message).toContain('--dedup: the URL redis://:***@127.0.0.1:6379 carries a password');
    expect(refusal!.message).toContain('--sink: the URL postgres://bench:***@db.example:5432/bench carries a password');
    expect(refusal!.message).not.toContain('secret');
  });

  it('lets a bare subscriber (no dedup, no sink) take --sink postgres with the scenario\'s sqlite dedup', async () => {
    const args = await parseBenchArgs(['--scenario', 'dup-storm', '--aggregator', 'none', '--sink', 'postgres']);
    expect(args !== 'listed' && args.sink).toBe('postgres');
  });

  it('refuses --dedup sqlite with --sink postgres as a UsageError (exit 2)', async () => {
    await expect(parseBenchArgs(['--scenario', 'dup-storm', '--sink', 'postgres', '--dedup', 'sqlite'])).rejects.toThrow(UsageError);
  });
});

describe('bench --target (your own consumer)', () => {
  it('a fault the target cannot support exits 2 naming the fault and the target, before anything starts', async () => {
    const [slow, poison] = await Promise.all([
      bench('--scenario', 'slow-sink', '--target', 'examples/naive-consumer/target.yaml'),
      bench('--scenario', 'poison-pill', '--target-command', 'node my-consumer.js'),
    ]);
    expectBadInput(slow, /fault 'slow-sink' needs the reference aggregator .*, which the target 'external: node examples\/naive-consumer\/consumer\.mjs' does not offer/);
    expectBadInput(poison, /fault 'poison' needs the reference aggregator .*'external: node my-consumer\.js'/, /check 'dlq' needs the reference aggregator/);
  });

  it('a target file that is missing or invalid exits 2 naming it and its fields', async () => {
    const bad = scenarioFile('bad-target.yaml', toYaml({ command: [], ready: { log_line: '(' }, sink: { kind: 'query' } }));
    const [missing, invalid] = await Promise.all([bench('--scenario', 'dup-storm', '--target', 'nowhere/target.yaml'), bench('--scenario', 'dup-storm', '--target', bad)]);
    expectBadInput(missing, '--target: cannot read target file nowhere/target.yaml');
    expectBadInput(invalid, 'target.command must be a non-empty list', 'target.ready.log_line is not a regular expression', 'target.sink.query must be a non-empty string');
  });

  it('loads a target file into the scenario and records it; --target-command and --target-query make or change one; --set maps the columns', async () => {
    const file = await parseBenchArgs(['--scenario', 'consumer-crash', '--target', 'examples/naive-consumer/target.yaml']);
    expect(file !== 'listed' && file.scenario.target?.command).toEqual(['node', 'examples/naive-consumer/consumer.mjs']);
    expect(file !== 'listed' && file.overrides.target).toBe('examples/naive-consumer/target.yaml');
    const made = await parseBenchArgs([
      '--scenario', 'dup-storm',
      '--target-command', 'python3  consumer.py --fast',
      '--target-query', 'SELECT id, at FROM log',
      '--set', 'target.sink.event_id_column=id',
      '--set', 'target.sink.commit_time_column=at',
    ]);
    // Recorded under the flags' own names, so the report's replay line gives them back as flags.
    expect(made !== 'listed' && made.overrides).toMatchObject({ 'target-command': 'python3  consumer.py --fast', 'target-query': 'SELECT id, at FROM log' });
    expect(made !== 'listed' && made.scenario.target).toEqual({
      command: ['python3', 'consumer.py', '--fast'],
      ready: { delay_ms: 1_000 },
      sink: { kind: 'query', query: 'SELECT id, at FROM log', event_id_column: 'id', commit_time_column: 'at' },
    });
  });

  it('refuses --aggregator none beside a target, and --target-query without one', async () => {
    await expect(parseBenchArgs(['--scenario', 'dup-storm', '--aggregator', 'none', '--target-command', 'node c.js'])).rejects.toThrow(/--aggregator none: the scenario has a target/);
    await expect(parseBenchArgs(['--scenario', 'dup-storm', '--target-query', 'SELECT event_id FROM t'])).rejects.toThrow(/--target-query: needs a target/);
  });
});

describe('parseDuration', () => {
  it.each([
    ['30s', 30],
    ['2m', 120],
    ['1500ms', 1.5],
    ['1h', 3600],
    ['45', 45],
    ['0.5s', 0.5],
    [' 10s ', 10],
  ])('%j is %d s', (text, seconds) => {
    expect(parseDuration(text)).toBe(seconds);
  });

  it.each(['abc', '', 's', '1e3', '5 s', '10d', '1.s', '2m30s', '--5s'])('rejects %j naming --duration', (text) => {
    expect(() => parseDuration(text)).toThrow(UsageError);
    expect(() => parseDuration(text)).toThrow(/--duration must look like/);
  });

  it.each(['-5s', '0', '0s', '-1m'])('rejects %j: --duration must be positive', (text) => {
    expect(() => parseDuration(text)).toThrow(`--duration must be positive, got '${text}'`);
  });
});
