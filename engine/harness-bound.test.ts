// The closed model's validity rule for the harness itself (engine/result-assembly.ts,
// HARNESS_BOUND_SHARE): a load worker thread that always had work set the pace, and the run says
// so instead of reporting the harness's ceiling as the system's capacity. Here the load worker of a
// real closed-model run is starved on purpose: once the load starts, its thread is pinned to CPU 0
// under SCHED_IDLE beside a spinning child (nice 19, also on CPU 0, so that it yields to every
// other process of the machine but the starved thread), and the same run without it is the control.

import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runScenario } from './run.ts';
import { dupStorm } from '../scenarios/shipped/dup-storm.ts';
import type { Scenario } from '../scenarios/schema.ts';
import { validateScenario } from '../scenarios/validate.ts';
import { tempDirs } from '../test-support/temp-dirs.ts';
import { renderReport } from '../reports/markdown.ts';
import { HARNESS_BOUND_SHARE } from './result-assembly.ts';
import { parseStatTicks } from './metrics/process-cpu.ts';

const outDir = tempDirs('harness-bound');

function closedRun(): Scenario {
  const scenario: Scenario = structuredClone(dupStorm);
  scenario.load.model = 'closed';
  scenario.load.concurrency = 500;
  scenario.phases[0]!.duration_s = 0.5;
  scenario.phases[1]!.duration_s = 4;
  scenario.drain_timeout_s = 20;
  scenario.aggregator.dedup = 'memory';
  expect(validateScenario(scenario).ok).toBe(true);
  return scenario;
}

/** CPU ticks of each thread of this process but its main one. */
function threadTicks(): Map<number, number> {
  const out = new Map<number, number>();
  for (const tid of readdirSync('/proc/self/task').map(Number)) {
    if (tid === process.pid) continue;
    try {
      out.set(tid, parseStatTicks(readFileSync(`/proc/self/task/${tid}/stat`, 'utf8')) ?? 0);
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

describe('the harness as the bound (closed model)', () => {
  it('makes a run whose load worker was starved of CPU invalid, naming the thread; the same run unstarved is valid', async () => {
    const control = await runScenario({ scenario: closedRun(), overrides: {}, broker: 'embedded', out_dir: outDir() });
    const calm = control.cost!.harness_busiest!;
    expect(calm.busy_share).toBeLessThan(HARNESS_BOUND_SHARE);
    expect(control.invalid_reasons.join(' ')).not.toMatch(/harness was the bound/);

    const spinners: ReturnType<typeof spawn>[] = [];
    let starved: number | undefined;
    // The control's load worker has exited: a thread that is new once the next load runs is its.
    const existing = threadTicks();
    const result = await runScenario({
      scenario: closedRun(),
      overrides: {},
      broker: 'embedded',
      out_dir: outDir(),
      during: async () => {
        // The load worker: of the threads that are new since the control, the one that has burnt the most CPU.
        const fresh = [...threadTicks()].filter(([tid]) => !existing.has(tid)).sort((a, b) => b[1] - a[1]);
        starved = fresh[0]?.[0];
        if (starved === undefined) throw new Error('no new thread: where is the load worker?');
        // Five spinners at nice 19 on CPU 0 leave a SCHED_IDLE thread there about 3/78 of it.
        for (let i = 0; i < 5; i++) spinners.push(spawn('taskset', ['-c', '0', 'nice', '-n', '19', process.execPath, '-e', 'const end = Date.now() + 30000; while (Date.now() < end);'], { stdio: 'ignore' }));
        expect(spawnSync('taskset', ['-p', '-c', '0', String(starved)]).status).toBe(0);
        expect(spawnSync('chrt', ['--idle', '-p', '0', String(starved)]).status).toBe(0);
      },
    }).finally(() => spinners.forEach((s) => s.kill('SIGKILL')));
    expect(starved).toBeDefined();
    const busiest = result.cost!.harness_busiest!;
    expect(busiest.role).toBe('load worker 1');
    expect(busiest.busy_share).toBeGreaterThanOrEqual(HARNESS_BOUND_SHARE);
    // Starved, it mostly waited for a core.
    expect(busiest.wait_share).toBeGreaterThan(busiest.cores);
    expect(result.valid).toBe(false);
    expect(result.invalid_reasons.join(' ')).toMatch(/the harness was the bound: its load worker 1 was running or waiting for a core \d+% of the time the load ran .*it waited for a core more than it ran/);
    // Nothing was lost for it: the harness's slowness is not the system's failure.
    expect(result.totals.lost).toBe(0);
    expect(result.throughput.committed_per_s).toBeLessThan(control.throughput.committed_per_s);
    expect(renderReport(result)).toMatch(/Was the harness the bound\? Its busiest thread while the load ran \([\d.]+ s\) was the load worker 1/);
  });
});
