// `--cpu-prof` end to end: one small run, and every process's and every harness thread's profile is
// there, each of the thread it names (its own code on top), and profile.md summarises them all.

import { expect, it } from 'vitest';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { runScenario } from './run.ts';
import { readProfiles, writeProfileReport } from './profiles.ts';
import { dupStorm } from '../scenarios/shipped/dup-storm.ts';
import type { Scenario } from '../scenarios/schema.ts';
import { tempDir } from '../test-support/temp-dirs.ts';

const out = tempDir('profiles');

it('profiles the aggregator, the embedded broker, and the harness main thread and each load worker', async () => {
  const scenario: Scenario = structuredClone(dupStorm);
  scenario.phases[0]!.duration_s = 0.5;
  scenario.phases[1]!.duration_s = 2;
  scenario.phases[1]!.rate = 400;
  scenario.load.workers = 2;
  scenario.load.publishers = 4;
  const result = await runScenario({ scenario, overrides: {}, broker: 'embedded', out_dir: out, cpu_prof: true });
  expect(result.totals.lost).toBe(0);

  const dir = join(out, 'profiles');
  expect(readdirSync(join(dir, 'harness')).sort()).toEqual(['load-worker-0.cpuprofile', 'load-worker-1.cpuprofile', 'main-thread.cpuprofile']);
  expect(readdirSync(join(dir, 'aggregator')).some((f) => /\.0\.\d+\.cpuprofile$/.test(f))).toBe(true);
  expect(readdirSync(join(dir, 'broker')).some((f) => /\.0\.\d+\.cpuprofile$/.test(f))).toBe(true);

  const summaries = readProfiles(out);
  const named = (label: string) => summaries.find((s) => s.label.startsWith(label));
  const projectFunctions = (label: string) => named(label)!.project_total.map((row) => row.name).join('\n');
  // Each profile is of its own thread: the load workers' show the worker's loop, the main thread's the run.
  for (const worker of ['harness, load worker 0 ', 'harness, load worker 1 ']) {
    expect(named(worker)?.busy_ms).toBeGreaterThan(0);
    expect(projectFunctions(worker)).toMatch(/\(engine\/load\/worker\.ts:\d+\)/);
    expect(projectFunctions(worker)).not.toMatch(/runScenario/);
  }
  expect(projectFunctions('harness, main thread ')).toMatch(/runScenario \(engine\/run\.ts:\d+\)/);
  expect(projectFunctions('harness, main thread ')).not.toMatch(/engine\/load\/worker\.ts/);
  // The main thread's profile runs to the end of the run: the final read of the sink is in it.
  expect(projectFunctions('harness, main thread ')).toMatch(/buildLedgerAsync/);

  const report = readFileSync(writeProfileReport(out), 'utf8');
  for (const section of ['## aggregator, pid ', '## broker, pid ', '## harness, load worker 0 (profiles/harness/load-worker-0.cpuprofile)', '## harness, load worker 1 ', '## harness, main thread (profiles/harness/main-thread.cpuprofile)']) {
    expect(report).toContain(section);
  }
  expect(existsSync(join(dir, 'profile.md'))).toBe(true);
}, 90_000);
