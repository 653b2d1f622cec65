// Issue 21: every command's output goes through one path (cli/output.ts), so a place that cannot be
// written is refused the same way everywhere: bad input (exit 2) naming the flag, before anything
// runs, never a hang (Node's recursive mkdir loops under /proc) or a stack; a disk that fills while
// the files are written is exit 3 with one line, and no half file is left. One table of commands,
// each run as a user runs it (a real process). bench's own cases are in commands/bench/inputs.test.ts.
// The read-only and full-disk cases mount small tmpfs of their own (root, as docs/testing.md says).

import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../cli/exit.ts';
import { SqliteSink } from '../aggregator/sink/sqlite.ts';
import { tempDir, tempDirs } from '../test-support/temp-dirs.ts';
import { runChaosbench, type CommandOutcome } from '../test-support/run-command.ts';

const FIXTURE = fileURLToPath(new URL('../test-support/fixtures/dup-storm.result.json', import.meta.url));
const dir = tempDir('outputs');
/** A run's directory (for report) and two runs of one scenario side by side (for merge). */
const run = join(dir, 'run');
const parts = [join(dir, 'part-1'), join(dir, 'part-2')];
const sink = join(dir, 'sink.db');

beforeAll(async () => {
  mkdirSync(run);
  copyFileSync(FIXTURE, join(run, 'result.json'));
  const result = JSON.parse(readFileSync(FIXTURE, 'utf8')) as { run_id: string };
  for (const [i, part] of parts.entries()) {
    mkdirSync(part);
    writeFileSync(join(part, 'result.json'), JSON.stringify({ ...result, run_id: `${result.run_id}-part${i + 1}` }));
  }
  // An empty sink of the reference schema, for audit.
  await new SqliteSink({ path: sink, mode: 'idempotent' }).close();
});

/**
 * Each command with the place it writes to: the flag that names it and its arguments with that place
 * (`at` is the directory given; a file flag gets a file in it, `file`, and its refusal names that
 * file as given, not only the directory derived from it). report writes into the run's own
 * directory, so its place is --summary-export there.
 */
const COMMANDS: { command: string; flag: string; args: (at: string) => string[]; file?: string }[] = [
  { command: 'report', flag: '--summary-export', args: (at) => [run, '--summary-export', join(at, 'k6.json')], file: 'k6.json' },
  { command: 'theory', flag: '--out', args: (at) => ['--only', '4', '--out', at, '--runs-dir', join(dir, 'theory-runs')] },
  { command: 'k6:export', flag: '--out', args: (at) => ['--scenario', 'dup-storm', '--out', join(at, 'script.ts')], file: 'script.ts' },
  { command: 'compare', flag: '--out', args: (at) => ['--scenario', 'smoke', '--dedup', 'memory,none', '--out', at] },
  { command: 'merge', flag: '--out', args: (at) => [...parts, '--out', at] },
  { command: 'audit', flag: '--out', args: (at) => ['--scenario', 'dup-storm', '--sink', `sqlite:${sink}`, '--out', at] },
  { command: 'perf', flag: '--out', args: (at) => ['--variants', 'bare', '--replicates', '1', '--duration', '1s', '--out', at] },
  { command: 'gate', flag: '--out', args: (at) => ['--scenario', 'smoke', '--baseline-set', 'aggregator.batch_size=10', '--out', at] },
  { command: 'gate', flag: '--summary', args: (at) => ['--scenario', 'smoke', '--baseline-set', 'aggregator.batch_size=10', '--out', join(dir, 'gate'), '--summary', join(at, 'summary.md')], file: 'summary.md' },
];
/** The place a command's refusal names: the file a file flag was given, else the directory. */
const named = (c: (typeof COMMANDS)[number], at: string) => (c.file ? join(at, c.file) : at);

/** What a command prints just before it starts a run, or writes a file: never seen for refused output. */
const STARTED = /chaosbench (compare|gate|perf):|^\[1\/\d+\] table|^wrote |^merged: |^audit of /m;

function expectRefused(outcome: CommandOutcome, flag: string, at: string, reason: string): void {
  expect(outcome.signal, outcome.stderr).toBeNull();
  expect(outcome.code, outcome.stderr).toBe(EXIT.bad_input);
  expect(outcome.stderr).toContain(`error: ${flag} ${at}: cannot write there: ${reason}`);
  expect(`${outcome.stdout}${outcome.stderr}`).not.toMatch(STARTED);
  expect(outcome.stderr).not.toMatch(/\n\s+at /);
}

const command = (c: (typeof COMMANDS)[number], at: string) => runChaosbench(c.command, c.args(at), { timeout_ms: 60_000 });

describe('every command: a place that cannot be written is bad input (exit 2, naming the flag), before anything runs', () => {
  it.each(COMMANDS.map((c) => [`${c.command} ${c.flag}`, c] as const))('%s under /proc (Node\'s recursive mkdir hangs there)', async (_name, c) => {
    expectRefused(await command(c, '/proc/forbidden'), c.flag, named(c, '/proc/forbidden'), 'ENOENT');
  }, 60_000);

  it.each(COMMANDS.filter((c) => c.file).map((c) => [`${c.command} ${c.flag}`, c] as const))('%s naming a directory: EISDIR before anything runs, not at the final rename', async (_name, c) => {
    const at = tempDir('outputs-is-dir');
    mkdirSync(join(at, c.file!));
    expectRefused(await command(c, at), c.flag, join(at, c.file!), 'EISDIR (a directory, not a file)');
  }, 60_000);

  describe('on a read-only file system', () => {
    const mount = tempDir('outputs-ro');
    beforeAll(() => execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k,ro', 'tmpfs', mount]));
    afterAll(() => execFileSync('umount', ['-l', mount]));
    it.each(COMMANDS.map((c) => [`${c.command} ${c.flag}`, c] as const))('%s: EROFS', async (_name, c) => {
      const at = join(mount, 'out');
      expectRefused(await command(c, at), c.flag, named(c, at), 'EROFS');
    }, 60_000);
  });
});

describe('the commands that write without a run: a disk that fills meanwhile is exit 3, one line, no half file', () => {
  const mounts = tempDirs('outputs-full');

  /** A 64 KiB tmpfs, `setup` done first, then filled up (the place's write check, an empty file, still passes). */
  function fullDisk(setup: (at: string) => void = () => {}): string {
    const at = mounts();
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', at]);
    setup(at);
    try {
      execFileSync('dd', ['if=/dev/zero', `of=${join(at, 'filler')}`, 'bs=4k'], { stdio: 'ignore' });
    } catch {
      // dd stops at ENOSPC: the disk is full, as wanted.
    }
    return at;
  }

  // file: the command's main output, never left behind (report writes its files beside result.json, each one whole or none).
  const CASES: { command: string; args: (at: string) => string[]; setup?: (at: string) => void; file: (at: string) => string }[] = [
    { command: 'report', setup: (at) => copyFileSync(FIXTURE, join(at, 'result.json')), args: (at) => [at], file: (at) => join(at, 'report.md') },
    { command: 'merge', args: (at) => [...parts, '--out', at], file: (at) => join(at, 'result.json') },
    { command: 'audit', args: (at) => ['--scenario', 'dup-storm', '--sink', `sqlite:${sink}`, '--out', at], file: (at) => join(at, 'audit.json') },
    { command: 'k6:export', args: (at) => ['--scenario', 'dup-storm', '--out', join(at, 'script.ts')], file: (at) => join(at, 'script.ts') },
  ];

  it.each(CASES.map((c) => [c.command, c] as const))('%s', async (_name, c) => {
    const at = fullDisk(c.setup);
    try {
      const before = new Set(readdirSync(at));
      const outcome = await runChaosbench(c.command, c.args(at), { timeout_ms: 60_000 });
      expect(outcome.signal, outcome.stderr).toBeNull();
      expect(outcome.code, outcome.stderr).toBe(EXIT.invalid_run);
      const errors = outcome.stderr.split('\n').filter((line) => line.startsWith('error:'));
      expect(errors, outcome.stderr).toHaveLength(1);
      expect(errors[0]).toMatch(new RegExp(`^error: cannot write ${at}/[^/]+: ENOSPC \\(no space left on the device\\)$`));
      expect(outcome.stderr).not.toMatch(/\n\s+at /);
      // Never a half file: nothing new in the directory, neither the file nor its temporary file.
      const added = readdirSync(at).filter((name) => !before.has(name));
      expect(added.map((name) => [name, statSync(join(at, name)).size])).toEqual([]);
      expect(existsSync(c.file(at))).toBe(false);
    } finally {
      execFileSync('umount', ['-l', at]);
    }
  }, 60_000);
});
