// `npm run gate` for real, as a child process the way CI runs it: smoke cut to 2 s per phase at
// 200 ev/s with no faults (no crash, no slow-sink stalls: they would swamp the p99). A planted
// regression — a 20 ms sink delay per batch commit, measured here at p99 ≈ 48 ms against ≈ 15 ms
// without (3.3×; CVs 7% and 2%) — must fail the gate (exit 1); the same config on both sides must
// pass (exit 0). (Batch size 1 with a 5 ms delay at 100 ev/s also regresses ~14×, but queueing
// makes its p99 spread 40%.) Interleaved, 4 replicates per side: 8 runs of ~9 s each per case,
// about 2.5 minutes for the file.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import type { GateReport } from '../../reports/gate.ts';
import { TYPESCRIPT_EXEC_ARGV } from '../typescript-child.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const out = mkdtempSync(join(tmpdir(), 'chaosbench-gate-run-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

const SHORT = ['--scenario', 'smoke', '--duration', '2s', '--rate', '200', '--set', 'phases[1].faults=[]', '--set', 'phases[2].faults=[]', '--replicates', '4', '--quiet'];

function gate(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...TYPESCRIPT_EXEC_ARGV, 'scripts/gate.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], timeout: 170_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

it('fails a planted p99 regression (sink delay 20 ms against 0 ms), interleaved', { timeout: 180_000 }, async () => {
  const dir = join(out, 'planted');
  const summary = join(out, 'planted.md');
  const outcome = await gate([...SHORT, '--set', 'aggregator.sink_delay_ms=20', '--baseline-set', 'aggregator.sink_delay_ms=0', '--out', dir, '--summary', summary]);
  const report = JSON.parse(readFileSync(join(dir, 'gate.json'), 'utf8')) as GateReport;
  expect(report.runs.map((r) => `${r.side}-r${r.replicate}`)).toEqual(['baseline-r1', 'candidate-r1', 'baseline-r2', 'candidate-r2', 'baseline-r3', 'candidate-r3', 'baseline-r4', 'candidate-r4']);
  // A loaded machine may make a run invalid (the generator fell behind): then exit 3, never a pass.
  if (report.runs.some((r) => !r.valid)) {
    expect(outcome.code, outcome.stdout).toBe(3);
    return;
  }
  expect(outcome.code, outcome.stdout + outcome.stderr).toBe(1);
  expect(report.outcome).toBe('regression');
  const d = report.decisions[0]!;
  expect(d.verdict).toBe('regression');
  expect(d.estimate!).toBeGreaterThan(2);
  expect(d.interval![0]).toBeGreaterThan(1.1);
  const md = readFileSync(summary, 'utf8');
  expect(md).toContain('gate FAILED: regression');
  expect(md).toMatch(/^\| p99\\_ms \| [\d.]+ \[[\d.]+–[\d.]+\] \(n=4\) \| [\d.]+ \[[\d.]+–[\d.]+\] \(n=4\) \| [\d.]+× \|/m);
  expect(md).toContain('Mann-Whitney');
});

it('passes the same config against itself, interleaved', { timeout: 180_000 }, async () => {
  const dir = join(out, 'same');
  const outcome = await gate([...SHORT, '--baseline-set', 'aggregator.sink_delay_ms=0', '--out', dir]);
  const report = JSON.parse(readFileSync(join(dir, 'gate.json'), 'utf8')) as GateReport;
  const d = report.decisions[0]!;
  // Exit 3 is allowed only when the gate says why (invalid runs, or too noisy); a regression is a false positive.
  expect(outcome.code, outcome.stdout).not.toBe(1);
  if (outcome.code === 3) {
    expect(['invalid', 'undecidable']).toContain(report.outcome);
    expect(report.message.length).toBeGreaterThan(0);
  } else {
    expect(outcome.code, outcome.stdout + outcome.stderr).toBe(0);
    expect(report.outcome).toBe('pass');
    expect(d.verdict).not.toBe('regression');
  }
});
