// The named flags table as the commands use it: every flag sets its scenario fields, the validator's
// errors name the flag beside the field, and compare and gate say of each flag what bench says.

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { dupStorm } from '../scenarios/shipped/dup-storm.ts';
import { parseBenchArgs } from '../commands/bench/bench.ts';
import { parseCompareArgs } from '../commands/compare/compare.ts';
import { parseGateArgs } from '../commands/gate/gate.ts';
import { TYPESCRIPT_EXEC_ARGV } from '../engine/typescript-child.ts';
import { UsageError } from './exit.ts';
import { SETTING_FLAGS } from '../aggregator/config.ts';
import { applyScenarioFlags, flagErrors, parseSetFlags, SCENARIO_FLAG_NAMES, SCENARIO_FLAGS, splitList } from './flags.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The UsageError's message of a parse that must fail. */
async function refused(parse: Promise<unknown>): Promise<string> {
  const error = await parse.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UsageError);
  return (error as UsageError).message;
}

describe("the aggregator's settings among the named flags", () => {
  it('read their values as the aggregator reads its own flag for the setting (type or choices from aggregator/config.ts)', () => {
    const ofSettings = SCENARIO_FLAG_NAMES.flatMap((name) => {
      const [path, ...more] = SCENARIO_FLAGS[name].paths(dupStorm);
      return path?.startsWith('aggregator.') && more.length === 0 ? [{ name, setting: path.slice('aggregator.'.length), option: SCENARIO_FLAGS[name].option }] : [];
    });
    expect(ofSettings.map((f) => f.name)).toEqual(['dedup', 'sink-mode', 'sink-delay-ms', 'batch-size']);
    for (const { name, setting, option } of ofSettings) {
      const own = SETTING_FLAGS.find((flag) => flag.name === setting)?.option;
      const reading = (o: object | undefined) => ({ type: (o as { type?: string } | undefined)?.type, choices: (o as { choices?: unknown } | undefined)?.choices });
      expect(reading(option), name).toEqual(reading(own));
    }
  });
});

describe('applyScenarioFlags', () => {
  it('sets each flag\'s fields as --set would, and records each flag as given', () => {
    const given = { seed: 7, duration: '10s', rate: '500:4000', model: 'closed', 'sink-delay-ms': 5, 'batch-size': 20, dedup: 'memory' };
    const applied = applyScenarioFlags(dupStorm, given);
    const s = applied.scenario;
    expect(s.seed).toBe(7);
    expect(s.phases.map((p) => [p.name, p.duration_s, p.rate])).toEqual([
      ['warmup', 2, 500],
      ['storm', 10, { from: 500, to: 4000 }],
    ]);
    expect([s.load.model, s.aggregator.sink_delay_ms, s.aggregator.batch_size, s.aggregator.dedup]).toEqual(['closed', 5, 20, 'memory']);
    expect(applied.overrides).toEqual(given);
    expect(applied.problems).toEqual([]);
    expect(dupStorm.aggregator.sink_delay_ms).toBe(0); // the shipped scenario is left alone
  });

  it('leaves out a value that does not parse and names its flag', () => {
    const applied = applyScenarioFlags(dupStorm, { duration: 'abc', rate: 'fast' });
    expect(applied.problems).toEqual([expect.stringMatching(/^--duration must look like/), expect.stringMatching(/^--rate must be events\/s/)]);
    expect(applied.scenario).toEqual(dupStorm);
    expect(applied.overrides).toEqual({});
  });

  it('names the flag of every field it set, and only those', () => {
    const { sources } = applyScenarioFlags(dupStorm, { rate: '100:-5', 'sink-delay-ms': -1 });
    expect(flagErrors(['phases[1].rate.to must be >= 0, got -5', 'aggregator.sink_delay_ms must be >= 0, got -1', 'aggregator.batch_size must be a positive integer, got 0'], sources)).toEqual([
      '--rate: phases[1].rate.to must be >= 0, got -5',
      '--sink-delay-ms: aggregator.sink_delay_ms must be >= 0, got -1',
      'aggregator.batch_size must be a positive integer, got 0',
    ]);
  });
});

describe('a bad value of a named flag', () => {
  it('is named by flag and field in bench, compare and gate alike', async () => {
    const named = '--sink-delay-ms: aggregator.sink_delay_ms must be >= 0, got -1';
    expect(await refused(parseBenchArgs(['--scenario', 'dup-storm', '--sink-delay-ms', '-1']))).toContain(named);
    expect(await refused(parseCompareArgs(['--scenario', 'dup-storm', '--dedup', 'memory,none', '--sink-delay-ms', '-1']))).toContain(named);
    expect(await refused(parseGateArgs(['--scenario', 'smoke', '--baseline-set', 'aggregator.batch_size=1', '--sink-delay-ms', '-1']))).toContain(named);
  });

  it('is named by --dedup and the field for a store that does not parse', async () => {
    expect(await refused(parseBenchArgs(['--scenario', 'dup-storm', '--dedup', 'mongodb']))).toMatch(/--dedup: aggregator\.dedup: unknown dedup store 'mongodb'/);
  });

  it('is named without --scenario too, beside the missing scenario', async () => {
    const message = await refused(parseBenchArgs(['--batch-size', '0', '--sink-delay-ms', '5']));
    expect(message).toContain('--scenario is required');
    expect(message).toContain('--batch-size: aggregator.batch_size must be a positive integer, got 0');
    expect(message).not.toContain('sink_delay_ms');
  });

  it('overwritten by --set is the --set\'s error, not the flag\'s', async () => {
    const message = await refused(parseBenchArgs(['--scenario', 'dup-storm', '--batch-size', '5', '--set', 'aggregator.batch_size=0']));
    expect(message).toContain('  aggregator.batch_size must be a positive integer, got 0');
    expect(message).not.toContain('--batch-size:');
    const within = await refused(parseBenchArgs(['--scenario', 'dup-storm', '--rate', '100:200', '--set', 'phases[1].rate.to=-1']));
    expect(within).toContain('  phases[1].rate.to must be >= 0, got -1');
    expect(within).not.toContain('--rate:');
  });
});

function help(command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...TYPESCRIPT_EXEC_ARGV, 'commands/chaosbench.ts', command, '--help'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'], timeout: 25_000 });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.once('error', reject);
    child.once('close', () => resolve(stdout));
  });
}

/** One flag's help, its wrapped lines joined: "--sink-delay-ms artificial delay … [number]". */
function flagHelp(text: string, flag: string): string | undefined {
  const lines = text.split('\n');
  const start = lines.findIndex((line) => new RegExp(`^\\s+--${flag}\\s`).test(line));
  if (start === -1) return undefined;
  const end = lines.findIndex((line, i) => i > start && /^\s+--[\w-]+\s/.test(line));
  return lines.slice(start, end === -1 ? undefined : end).join(' ').replace(/\s+/g, ' ').trim();
}

describe('--help', () => {
  it('of compare and gate says of each flag they pass to the bench what bench --help says', async () => {
    const [bench, compare, gate] = await Promise.all([help('bench'), help('compare'), help('gate')]);
    const passed = [...SCENARIO_FLAG_NAMES.filter((name) => name !== 'dedup'), 'broker'];
    for (const flag of passed) {
      const said = flagHelp(bench, flag);
      expect(said, flag).toBeDefined();
      expect(flagHelp(compare, flag), `compare --${flag}`).toBe(said);
      expect(flagHelp(gate, flag), `gate --${flag}`).toBe(said);
    }
    // --sink: the same text and default; compare and gate pass it on only when given.
    for (const text of [compare, gate]) expect(flagHelp(text, 'sink')).toBe(flagHelp(bench, 'sink'));
  });

  it('of bench lists every named flag', async () => {
    const bench = await help('bench');
    for (const flag of Object.keys(SCENARIO_FLAGS)) expect(flagHelp(bench, flag), flag).toBeDefined();
  });
});

describe('splitList', () => {
  it('splits at top-level commas only, so JSON values stay whole', () => {
    expect(splitList('memory, sqlite ,none', '--dedup')).toEqual(['memory', 'sqlite', 'none']);
    expect(splitList('{"from":1,"to":2},[1,2],"a,b",3', '--vary')).toEqual(['{"from":1,"to":2}', '[1,2]', '"a,b"', '3']);
    expect(() => splitList('memory,,sqlite', '--dedup')).toThrow(/--dedup: empty value in 'memory,,sqlite'/);
  });
});

describe('parseSetFlags', () => {
  it('takes each path=value, the value as JSON when it parses, and names --set for a text that is not one', () => {
    expect(parseSetFlags(['aggregator.batch_size=5', 'phases[1].rate={"from":1,"to":2}', 'aggregator.dedup=memory', 'nope'])).toEqual({
      changes: [
        { path: 'aggregator.batch_size', value: 5 },
        { path: 'phases[1].rate', value: { from: 1, to: 2 } },
        { path: 'aggregator.dedup', value: 'memory' },
      ],
      problems: ["--set: --set expects path=value, got 'nope'"],
    });
  });
});
