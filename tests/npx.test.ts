// Installed by name, as a user without a clone would: `npm pack` of this checkout, `npm install` of
// the tarball into an empty folder (its dependencies come from the npm cache or registry), then
// `npx chaosbench …` there. better-sqlite3's install script is run as it is for a user: prebuild-install
// first, which most users satisfy with a download of the prebuilt binary. Here, where GitHub is out of
// reach, it is handed the binary this checkout's `npm ci` compiled, as a local prebuild (its
// `npm_config_better_sqlite3_local_prebuilds` folder), not compiled a second time (about a minute of
// the suite; compiling from source is what `npm ci` of the checkout itself does). The bin runs the harness
// in its own process (no wrapper between the bin and the run), so a Ctrl-C — SIGINT to the
// foreground process group, as a terminal sends it — reaches the harness and every process the run
// started, and none is left behind.

import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const dir = mkdtempSync(join(tmpdir(), 'chaosbench-npx-'));
const app = join(dir, 'app');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** `npx chaosbench …` in the app folder; resolves on exit. */
function npx(args: string[], timeout = 120_000): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn('npx', ['--no-install', 'chaosbench', ...args], { cwd: app, stdio: ['ignore', 'pipe', 'pipe'], timeout });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** pid, parent pid and command line of every process of a process group. */
function processGroup(pgid: number): { pid: number; ppid: number; args: string }[] {
  let out = '';
  try {
    out = execFileSync('ps', ['-o', 'pid=,ppid=,args=', '-g', String(pgid)], { encoding: 'utf8' });
  } catch {
    return []; // ps exits 1 when the group is empty
  }
  return out
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [pid, ppid, ...args] = line.trim().split(/\s+/);
      return { pid: Number(pid), ppid: Number(ppid), args: args.join(' ') };
    });
}

/**
 * A folder holding this checkout's compiled better-sqlite3 binary as prebuild-install names a
 * release asset (`better-sqlite3-v<version>-node-v<abi>-<platform>-<arch>.tar.gz`, holding
 * `build/Release/better_sqlite3.node`), so the install below unpacks it instead of compiling.
 */
function localPrebuild(): string {
  const pkgDir = join(ROOT, 'node_modules', 'better-sqlite3');
  const { version } = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { version: string };
  const folder = join(dir, 'prebuilds');
  mkdirSync(folder);
  const asset = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  execFileSync('tar', ['czf', join(folder, asset), '-C', pkgDir, 'build/Release/better_sqlite3.node']);
  return folder;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('npx chaosbench, installed from the packed tarball into an empty folder', () => {
  beforeAll(() => {
    mkdirSync(join(dir, 'pack'));
    mkdirSync(app);
    const tarball = execFileSync('npm', ['pack', '--silent', '--pack-destination', join(dir, 'pack')], { cwd: ROOT, encoding: 'utf8' }).trim().split('\n').pop()!;
    const prebuilds = localPrebuild();
    execFileSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel', 'error', join(dir, 'pack', tarball)], {
      cwd: app,
      stdio: 'pipe',
      timeout: 400_000,
      env: { ...process.env, npm_config_better_sqlite3_local_prebuilds: prebuilds },
    });
  }, 420_000);

  it('ships the sources the commands need and none of the tests', () => {
    const pkg = join(app, 'node_modules', 'chaosbench');
    expect(existsSync(join(pkg, 'bin', 'chaosbench.mjs'))).toBe(true);
    expect(existsSync(join(pkg, 'engine', 'run.ts'))).toBe(true);
    expect(existsSync(join(pkg, 'aggregator', 'main.ts'))).toBe(true);
    expect(existsSync(join(pkg, 'engine', 'run.test.ts'))).toBe(false);
    expect(existsSync(join(pkg, 'test-support'))).toBe(false);
    expect(existsSync(join(app, 'node_modules', '.bin', 'chaosbench'))).toBe(true);
    // The install took the local prebuild (a renamed asset would have compiled, a minute longer).
    const binary = join('node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node');
    expect(readFileSync(join(app, binary)).equals(readFileSync(join(ROOT, binary)))).toBe(true);
  });

  it('--help lists every command; an unknown command is exit 2', async () => {
    const help = await npx(['--help']);
    expect(help.code, help.stderr).toBe(0);
    for (const command of ['audit', 'bench', 'clean', 'compare', 'gate', 'k6:export', 'merge', 'perf', 'report', 'theory']) expect(help.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
    const unknown = await npx(['benchh']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "benchh"');
  });

  it('bench runs dup-storm to a PASS and writes its result; report re-renders it', async () => {
    const out = join(app, 'run');
    const bench = await npx(['bench', '--scenario', 'dup-storm', '--duration', '2s', '--rate', '200', '--out', out]);
    expect(bench.code, bench.stderr).toBe(0);
    expect(bench.stdout).toMatch(/^PASS — /m);
    const result = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8')) as { passed: boolean; totals: { lost: number; unique_committed: number; published: number }; versions: Record<string, string> };
    expect(result.passed).toBe(true);
    expect(result.totals.lost).toBe(0);
    expect(result.totals.published).toBeGreaterThan(0);
    expect(result.totals.unique_committed).toBe(result.totals.published);
    expect(result.versions.chaosbench).toBe(VERSION);
    rmSync(join(out, 'report.md'));
    const report = await npx(['report', out]);
    expect(report.code, report.stderr).toBe(0);
    expect(readFileSync(join(out, 'report.md'), 'utf8')).toMatch(/PASS/);
  }, 120_000);

  it('Ctrl-C reaches the harness directly: the bin is the harness process, and every process of the run exits', async () => {
    const out = join(app, 'interrupted');
    const child = spawn('npx', ['--no-install', 'chaosbench', 'bench', '--scenario', 'dup-storm', '--duration', '60s', '--rate', '100', '--out', out], {
      cwd: app,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group, as a terminal's foreground job
    });
    // Progress lines go to stderr.
    let progress = '';
    child.stdout.resume();
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (progress += chunk));
    const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
    const pgid = child.pid!;
    try {
      // Wait for the run to be under way (a progress line), at most 60 s.
      for (let waited = 0; !/^\[\s*\d+s\//m.test(progress) && waited < 60_000; waited += 200) await sleep(200);
      expect(progress).toMatch(/^\[\s*\d+s\//m);
      const group = processGroup(pgid);
      const aggregator = group.find((p) => p.args.includes('aggregator/main.ts'));
      expect(aggregator, JSON.stringify(group)).toBeDefined();
      // The aggregator's parent is the run: it must be the node process of the bin itself.
      const harness = group.find((p) => p.pid === aggregator!.ppid);
      expect(harness?.args ?? '').toMatch(/node_modules\/\.bin\/chaosbench bench/);

      process.kill(-pgid, 'SIGINT');
      const started = Date.now();
      let left = processGroup(pgid);
      while (left.length > 0 && Date.now() - started < 15_000) {
        await sleep(200);
        left = processGroup(pgid);
      }
      expect(left, 'processes left 15 s after Ctrl-C').toEqual([]);
      await exited;
    } finally {
      for (const p of processGroup(pgid)) process.kill(p.pid, 'SIGKILL');
    }
  }, 120_000);
});
