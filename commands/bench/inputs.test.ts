// Issue 21: the bench's inputs are bounded and its outputs whole. Each case is the command line as a
// user runs it (a real process): bad input exits 2 with one message naming the flag or field before
// anything starts; an output that cannot be written exits 3 with one line, and leaves no half file.
// The ENOSPC case mounts a tmpfs of its own (root, as docs/testing.md says the tests have).

import { execFileSync } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { stringify as toYaml } from 'yaml';
import { smoke } from '../../scenarios/shipped/smoke.ts';
import { MAX_SCENARIO_FILE_BYTES } from '../../scenarios/load.ts';
import { EXIT } from '../../cli/exit.ts';
import { tempDir, tempDirs } from '../../test-support/temp-dirs.ts';
import { runChaosbench, type CommandOutcome } from '../../test-support/run-command.ts';

/** Kill a child that went on to run (or hang) anyway, so a regression fails instead of hanging. */
const KILL_AFTER_MS = 60_000;
/** What the bench prints on stderr just before it starts the broker and the aggregator. */
const RUN_BANNER = 'chaosbench: ';
const dir = tempDir('bench-inputs');
const bench = (...args: string[]) => runChaosbench('bench', args, { timeout_ms: KILL_AFTER_MS });

function expectBadInput(outcome: CommandOutcome, ...named: string[]): void {
  expect(outcome.signal, outcome.stderr).toBeNull();
  expect(outcome.code, outcome.stderr).toBe(EXIT.bad_input);
  for (const name of named) expect(outcome.stderr).toContain(name);
  expect(outcome.stderr).not.toContain(RUN_BANNER);
  expect(outcome.stderr).not.toMatch(/\n\s+at /);
}

describe('bench: numbers, files and names are bounded (exit 2, naming the field)', () => {
  it('--set phases[1].duration_s=1e999, and .inf and .nan in a YAML file, are refused, not run forever', async () => {
    const yaml = join(dir, 'inf.yaml');
    writeFileSync(yaml, toYaml(smoke).replace(/rate: \d+/, 'rate: .inf').replace(/duration_s: [\d.]+/, 'duration_s: .nan'));
    const [set, file] = await Promise.all([bench('--scenario', 'smoke', '--set', 'phases[1].duration_s=1e999'), bench('--scenario', yaml)]);
    expectBadInput(set, 'phases[1].duration_s must be a finite number, got Infinity');
    expectBadInput(file, `scenario file ${yaml} is invalid`, 'phases[0].duration_s must be a number', 'phases[0].rate must be a finite number, got Infinity');
  }, 120_000);

  it('a 2 MB scenario file and /dev/zero are refused, naming --scenario and the cap', async () => {
    const big = join(dir, 'big.yaml');
    writeFileSync(big, `${toYaml(smoke)}\n# ${'x'.repeat(2 * 1024 * 1024)}\n`);
    const [bigOutcome, zero] = await Promise.all([bench('--scenario', big), bench('--scenario', '/dev/zero')]);
    expectBadInput(bigOutcome, `--scenario: scenario file ${big} is larger than the cap of ${MAX_SCENARIO_FILE_BYTES} bytes`);
    expectBadInput(zero, `--scenario: scenario file /dev/zero is larger than the cap of ${MAX_SCENARIO_FILE_BYTES} bytes`);
  }, 120_000);

  it("a name that would leave reports/out or break a topic ('/', '..', '+', '#', a space) is refused, nothing written", async () => {
    const names = ['x/../../../escaped', 'a+b', 'a#b', 'has space', '..'];
    const outcomes = await Promise.all(
      names.map((name, i) => {
        const file = join(dir, `name-${i}.json`);
        writeFileSync(file, JSON.stringify({ ...smoke, name }));
        return bench('--scenario', file);
      }),
    );
    outcomes.forEach((outcome, i) => expectBadInput(outcome, `name must be 1 to 64 letters, digits, '.', '_' or '-'`, JSON.stringify(names[i])));
    // The old code ran the first one into reports/out/<id>-x/../../../escaped: the repository's root.
    expect(existsSync(fileURLToPath(new URL('../../escaped', import.meta.url)))).toBe(false);
  }, 120_000);

  it('--duration -5s: "--duration must be positive", not unknown arguments', async () => {
    const outcome = await bench('--scenario', 'smoke', '--duration', '-5s');
    expectBadInput(outcome, "--duration must be positive, got '-5s'");
    expect(outcome.stderr).not.toContain('Unknown argument');
  }, 60_000);
});

describe('bench: an output directory that cannot be written is refused before the run (exit 2, naming --out)', () => {
  it('--out under /proc (used to hang) and under a file', async () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    const [proc, underFile] = await Promise.all([bench('--scenario', 'smoke', '--out', '/proc/forbidden'), bench('--scenario', 'smoke', '--out', join(file, 'out'))]);
    expectBadInput(proc, '--out /proc/forbidden: cannot write there: ENOENT');
    expectBadInput(underFile, `--out ${join(file, 'out')}: cannot write there: ENOTDIR`);
  }, 120_000);

  it('compare and gate too: --out under /proc exits 2 naming --out, not a hang or a stack', async () => {
    const [compare, gate] = await Promise.all([
      runChaosbench('compare', ['--scenario', 'smoke', '--dedup', 'memory,none', '--out', '/proc/forbidden'], { timeout_ms: KILL_AFTER_MS }),
      runChaosbench('gate', ['--scenario', 'smoke', '--baseline', join(dir, 'no-baseline.json'), '--update-baseline', '--out', '/proc/forbidden'], { timeout_ms: KILL_AFTER_MS }),
    ]);
    expectBadInput(compare, '--out /proc/forbidden: cannot write there: ENOENT');
    expectBadInput(gate, '--out /proc/forbidden');
  }, 120_000);

  it('a read-only file system: EROFS, named by --out', async () => {
    const mount = tempDir('bench-inputs-ro');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k,ro', 'tmpfs', mount]);
    try {
      expectBadInput(await bench('--scenario', 'smoke', '--out', join(mount, 'run')), `--out ${join(mount, 'run')}: cannot write there: EROFS`);
    } finally {
      execFileSync('umount', ['-l', mount]);
    }
  }, 60_000);
});

describe('bench: a disk that is full when the results are written (exit 3, one line, no half file)', () => {
  const mountPoint = tempDirs('bench-inputs-full');

  it('result.json larger than the space left: exit 3, "cannot write …result.json: ENOSPC", no result.json at all', async () => {
    // 16 KiB: room for the write check, none for result.json (about 25 KB); the PostgreSQL sink and
    // the memory dedup store keep nothing in the output directory during the run.
    const out = mountPoint();
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16k', 'tmpfs', out]);
    try {
      const outcome = await bench('--scenario', 'smoke', '--duration', '1s', '--sink', 'postgres', '--dedup', 'memory', '--out', out, '--quiet');
      expect(outcome.signal, outcome.stderr).toBeNull();
      expect(outcome.code, outcome.stderr).toBe(EXIT.invalid_run);
      const errors = outcome.stderr.split('\n').filter((line) => line.startsWith('error:'));
      expect(errors, outcome.stderr).toEqual([`error: cannot write ${join(out, 'result.json')}: ENOSPC (no space left on the device)`]);
      expect(outcome.stderr).not.toMatch(/\n\s+at /);
      // Never a half file: neither result.json nor its temporary file is left.
      expect(readdirSync(out)).toEqual([]);
      expect(existsSync(join(out, 'result.json'))).toBe(false);
    } finally {
      execFileSync('umount', ['-l', out]);
    }
  }, 120_000);
});

describe('bench: Redis that cannot be used (exit 3, one reason, no ioredis stack)', () => {
  it('--dedup redis://…/99 is refused naming the database; a closed port prints no "Unhandled error event"', async () => {
    const closed = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as AddressInfo;
        server.close(() => resolve(port));
      });
    });
    const state = tempDir('bench-inputs-redis-state');
    const run = (dedup: string) =>
      runChaosbench('bench', ['--scenario', 'smoke', '--duration', '1s', '--dedup', dedup, '--out', join(tempDir('bench-inputs-redis'), 'run'), '--quiet'], {
        timeout_ms: KILL_AFTER_MS,
        env: { CHAOSBENCH_STATE_DIR: join(state, dedup.endsWith('/99') ? 'db99' : 'down') },
      });
    const [db99, down] = await Promise.all([run('redis://127.0.0.1:6379/99'), run(`redis://127.0.0.1:${closed}`)]);
    for (const outcome of [db99, down]) {
      expect(outcome.code, outcome.stderr).toBe(EXIT.invalid_run);
      expect(outcome.stderr).not.toContain('Unhandled error event');
      expect(outcome.stderr).not.toMatch(/\n\s+at /);
    }
    expect(db99.stderr).toContain("redis database 99 cannot be selected: ERR DB index is out of range");
    // Nothing was written in database 99: the run leaves no record for a later clean (it kept one before).
    expect(existsSync(join(state, 'db99')) ? readdirSync(join(state, 'db99')) : []).toEqual([]);
    expect(down.stderr).toContain(`ECONNREFUSED 127.0.0.1:${closed}`);
  }, 120_000);

  it("REDIS_URL=redis://…/abc, /-1, /1e999 for the broker's sessions and a bare --dedup redis: exit 2 naming REDIS_URL and the path, nothing started (before: a stack trace, a run in database 1, records left)", async () => {
    const state = tempDir('bench-inputs-redis-url');
    const outcomes = await Promise.all(
      ['abc', '-1', '1e999'].map((path) =>
        runChaosbench('bench', ['--scenario', 'broker-kill-redis', '--duration', '1s', '--dedup', 'redis', '--out', join(state, `run-${path}`), '--quiet'], {
          timeout_ms: KILL_AFTER_MS,
          env: { REDIS_URL: `redis://127.0.0.1:6379/${path}`, CHAOSBENCH_STATE_DIR: join(state, `runs-${path}`) },
        }),
      ),
    );
    outcomes.forEach((outcome, i) => {
      const path = ['abc', '-1', '1e999'][i]!;
      expectBadInput(outcome, `REDIS_URL (read for broker.persistence redis and --dedup redis): the path of a Redis URL is its database index, a number like /5, got '/${path}'`);
      expect(existsSync(join(state, `run-${path}`))).toBe(false);
      expect(existsSync(join(state, `runs-${path}`))).toBe(false);
    });
  }, 120_000);

  it('REDIS_URL=redis://…/99 for the embedded broker\'s sessions: exit 3 naming the database in one line, nothing left to clean (it passed in database 0 before)', async () => {
    const state = tempDir('bench-inputs-broker-db');
    const outcome = await runChaosbench('bench', ['--scenario', 'broker-kill-redis', '--duration', '1s', '--out', join(state, 'run'), '--quiet'], {
      timeout_ms: KILL_AFTER_MS,
      env: { REDIS_URL: 'redis://127.0.0.1:6379/99', CHAOSBENCH_STATE_DIR: join(state, 'runs') },
    });
    expect(outcome.code, outcome.stderr).toBe(EXIT.invalid_run);
    const errors = outcome.stderr.split('\n').filter((line) => line.startsWith('error:'));
    expect(errors).toEqual([
      "error: the run could not complete: embedded broker failed to start (exit code 1): redis persistence: redis database 99 cannot be selected: ERR DB index is out of range (see the server's 'databases' setting)",
    ]);
    expect(outcome.stderr).not.toMatch(/\n\s+at /);
    // Nothing was written in any database, so the run's registry file is gone: no later clean has work.
    expect(existsSync(join(state, 'runs')) ? readdirSync(join(state, 'runs')) : []).toEqual([]);
  }, 120_000);
});
