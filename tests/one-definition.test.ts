// Facts every command shares are written once: the exit-code table and UsageError (cli/exit.ts), the
// in-place progress line (cli/progress.ts), the aggregator's settings (aggregator/config.ts). A copy elsewhere drifts (report's 1 and theory's 1 had
// names of their own, three progress writers cut lines differently), so the sources are searched
// for a second one.

import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { projectTypeScriptFiles } from '../test-support/source-files.ts';
import { SCENARIO_FLAGS } from '../cli/flags.ts';
import { SCENARIO_SETTING_NAMES } from '../aggregator/config.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const FILES = projectTypeScriptFiles(ROOT, { tests: false }).map((path) => ({ path: relative(ROOT, path), text: readFileSync(path, 'utf8') }));

function filesMatching(pattern: RegExp): string[] {
  return FILES.filter((f) => pattern.test(f.text)).map((f) => f.path);
}

describe('one definition', () => {
  it('of UsageError and the exit-code table: cli/exit.ts', () => {
    expect(FILES.length).toBeGreaterThan(50);
    expect(filesMatching(/class UsageError\b/)).toEqual([join('cli', 'exit.ts')]);
    // A table of exit codes names 2 bad input.
    expect(filesMatching(/\bbad_input:\s*2\b/)).toEqual([join('cli', 'exit.ts')]);
  });

  it('of the line written in place on a terminal: cli/progress.ts', () => {
    expect(filesMatching(/\\x1b\[2K/)).toEqual([join('cli', 'progress.ts')]);
  });

  it('of the named flags of bench, compare and gate: cli/flags.ts', () => {
    // A yargs declaration of a flag: its name, then an object with its type, choices or help. One
    // such flag elsewhere is a flag of its own (theory's --seed, compare's --dedup axis); several
    // are a second table. The aggregator's command line (aggregator/main.ts) is another program's,
    // and so are the measurement scripts of experiments/perf/ (node:util parseArgs, their own flags:
    // --seconds, --dup, --capacity), which drive the engine directly, not through bench.
    const declares = (text: string, name: string) => new RegExp(`(^|[\\s{,])'?${name}'?:\\s*\\{\\s*(option:\\s*\\{\\s*)?(type|choices|describe):`, 'm').test(text);
    const otherPrograms = [`aggregator${sep}`, join('experiments', 'perf') + sep];
    const tables = FILES.filter((f) => !otherPrograms.some((prefix) => f.path.startsWith(prefix)) && Object.keys(SCENARIO_FLAGS).filter((name) => declares(f.text, name)).length >= 3);
    expect(tables.map((f) => f.path)).toEqual([join('cli', 'flags.ts')]);
  });

  it("of the aggregator's settings: aggregator/config.ts (a scenario's aggregator section takes them from there)", () => {
    // A second copy declares several of them as typed fields (an interface) or lists their names
    // (a validator's known fields), as scenarios/schema.ts and scenarios/validate.ts did; a flag's
    // setting('batch_size') names one, checked by the compiler against the table.
    const declares = (text: string, name: string) =>
      new RegExp(`^\\s*${name}\\??:\\s*[\\w |'"]+;\\s*$`, 'm').test(text) || new RegExp(`(?<!setting\\()['"]${name}['"]`).test(text);
    expect(SCENARIO_SETTING_NAMES).toEqual(expect.arrayContaining(['dedup', 'batch_size', 'sink_mode']));
    const copies = FILES.filter((f) => !f.path.startsWith(`aggregator${sep}`) && SCENARIO_SETTING_NAMES.filter((name) => declares(f.text, name)).length >= 3);
    expect(copies.map((f) => f.path)).toEqual([]);
  });

  it("of reading a result.json back: engine/result-file.ts (report and merge both use it)", () => {
    // A check of a parsed file's schema is a reader of result.json; writers only set it.
    expect(filesMatching(/\.schema\s*[!=]==\s*RESULT_SCHEMA\b/)).toEqual([join('engine', 'result-file.ts')]);
  });

  it("of a run's rates: result-assembly's resultRates (merge recomputes with it)", () => {
    expect(filesMatching(/copies_published\s*\/\s*deliveries/)).toEqual([join('engine', 'result-assembly.ts')]);
  });
});
