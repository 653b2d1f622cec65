// Cost as a result (issue 19), in real runs on the embedded broker: every process and thread the
// run started has its CPU time from /proc in result.json, the threads' sum stays within the harness
// process's own total, and a consumer SIGKILLed and restarted by consumer-crash counts each of its
// incarnations.

import { describe, expect, it } from 'vitest';
import { runScenario } from './run.ts';
import { dupStorm } from '../scenarios/shipped/dup-storm.ts';
import { consumerCrash } from '../scenarios/shipped/consumer-crash.ts';
import type { Scenario } from '../scenarios/schema.ts';
import { validateScenario } from '../scenarios/validate.ts';
import { tempDirs } from '../test-support/temp-dirs.ts';
import { renderReport } from '../reports/markdown.ts';
import { readPart } from './result-file.ts';
import { figuresOf } from './figures.ts';

const outDir = tempDirs('cost');

function checked(scenario: Scenario): Scenario {
  expect(validateScenario(scenario).ok).toBe(true);
  return scenario;
}

describe('the cost section of a run', () => {
  it('gives every process and thread the run started its CPU from /proc; the threads add up to no more than the harness process', async () => {
    const scenario: Scenario = structuredClone(dupStorm);
    scenario.load.workers = 2;
    scenario.phases[0]!.duration_s = 0.5;
    scenario.phases[0]!.rate = 200;
    scenario.phases[1]!.duration_s = 2;
    scenario.phases[1]!.rate = 400;
    scenario.drain_timeout_s = 15;
    const result = await runScenario({ scenario: checked(scenario), overrides: {}, broker: 'embedded', out_dir: outDir() });
    const cost = result.cost!;
    expect(cost.source).toBe('/proc');
    expect(cost.messages).toBe(result.totals.published + result.totals.copies_published);
    expect(cost.processes.map((p) => p.role).sort()).toEqual(['aggregator', 'broker', 'harness main thread', 'load worker 1', 'load worker 2']);
    for (const p of cost.processes) {
      expect(p.cpu_s, p.role).toBeGreaterThan(0);
      expect(p.incarnations, p.role).toBe(1);
      expect(p.us_per_message, p.role).toBeCloseTo((p.cpu_s * 1e6) / cost.messages, 0);
    }
    // Split at the schedule's start: everything started (and the load workers loaded their modules) before it.
    // The harness main thread, counted from the run's start, mostly waits for those starts: under one
    // clock tick (10 ms, /proc's unit) it reads 0, as in one CI run on a fast machine.
    for (const p of [...cost.processes, { role: 'harness process', ...cost.harness_process }]) {
      if (p.role === 'harness main thread') expect(p.startup_cpu_s, p.role).toBeGreaterThanOrEqual(0);
      else expect(p.startup_cpu_s, p.role).toBeGreaterThan(0);
      expect(p.startup_cpu_s, p.role).toBeLessThan(p.cpu_s);
      expect(p.running_us_per_message, p.role).toBeCloseTo(((p.cpu_s - p.startup_cpu_s!) * 1e6) / cost.messages, 0);
    }
    // Split at the load's end too: the load workers are done by then (nothing after but their exit), the main
    // thread reads the sink for the ledger after it.
    for (const p of [...cost.processes, { role: 'harness process', ...cost.harness_process }]) {
      expect(p.after_load_cpu_s, p.role).toBeGreaterThanOrEqual(0);
      expect(p.startup_cpu_s! + p.after_load_cpu_s!, p.role).toBeLessThanOrEqual(p.cpu_s + 1e-9);
      expect(p.load_us_per_message, p.role).toBeCloseTo(((p.cpu_s - p.startup_cpu_s! - p.after_load_cpu_s!) * 1e6) / cost.messages, 0);
    }
    for (const p of cost.processes.filter((p) => p.role.startsWith('load worker'))) expect(p.after_load_cpu_s, p.role).toBeLessThanOrEqual(0.02);
    // While the load ran: its wall time (the schedule's 2.5 s and the last PUBACKs), each row's cores
    // and share of it spent waiting for a core (schedstat), and the busiest harness thread.
    expect(cost.load_wall_s).toBeGreaterThanOrEqual(2.5);
    expect(cost.load_wall_s).toBeLessThan(2.5 + 15);
    for (const p of cost.processes) {
      expect(p.load_cores, p.role).toBeCloseTo((p.cpu_s - p.startup_cpu_s! - p.after_load_cpu_s!) / cost.load_wall_s!, 1);
      expect(p.load_wait_share, p.role).toBeGreaterThanOrEqual(0);
      expect(p.load_wait_share, p.role).toBeLessThanOrEqual(1);
    }
    const busiest = cost.harness_busiest!;
    expect(['harness main thread', 'load worker 1', 'load worker 2']).toContain(busiest.role);
    expect(busiest.busy_share).toBeCloseTo(busiest.cores + busiest.wait_share, 2);
    // 400 ev/s leaves the harness idle most of the time: the run is valid, and the report says how busy it was.
    expect(busiest.busy_share).toBeLessThan(0.5);
    expect(result.invalid_reasons.join(' ')).not.toMatch(/harness was the bound/);
    expect(cost.processes.find((p) => p.role === 'harness main thread')!.after_load_cpu_s).toBeGreaterThan(0);
    // A run's figures (compare, perf) take the figure from the schedule's start.
    const figures = figuresOf(result);
    expect(figures.cpu_includes_startup).toBe(false);
    expect(figures.cpu_us_per_message!['load worker 1']).toBe(cost.processes.find((p) => p.role === 'load worker 1')!.running_us_per_message);
    expect(figures.cpu_us_per_message_during_load!['harness main thread']).toBe(cost.processes.find((p) => p.role === 'harness main thread')!.load_us_per_message);
    expect(figures.cpu_us_per_message_during_load!['harness, all threads']).toBe(cost.harness_process.load_us_per_message);
    const threads = cost.processes.filter((p) => p.role.startsWith('load worker') || p.role === 'harness main thread');
    const threadSum = threads.reduce((sum, p) => sum + p.cpu_s, 0);
    // The process's account holds every thread's (and the GC's and libuv's): two ticks for rounding.
    expect(threadSum).toBeLessThanOrEqual(cost.harness_process.cpu_s + 2 / cost.clock_ticks_per_s);
    expect(cost.not_measured).toEqual([]);
    // The reader takes it, and the report shows it.
    expect(readPart('run', JSON.parse(JSON.stringify(result))).errors).toEqual([]);
    expect(renderReport(result)).toMatch(/## Cost[\s\S]*of which start-up s \| of which after the load s \| CPU µs per message while the load ran[\s\S]*cores while the load ran \| waiting for a core while the load ran \|[\s\S]*\| load worker 2 \| \d[\s\S]*Was the harness the bound\? Its busiest thread while the load ran/);
    expect(figures.harness_busy_share).toBe(busiest.busy_share);
  });

  it('counts a consumer SIGKILLed and restarted by consumer-crash as two incarnations, their CPU summed', async () => {
    const scenario: Scenario = structuredClone(consumerCrash);
    scenario.phases = [
      { name: 'warmup', duration_s: 0.5, rate: 200, faults: [] },
      { name: 'crash', duration_s: 2.5, rate: 300, faults: [{ kind: 'consumer-crash', at_s: 1, every_s: 0, downtime_ms: 300 }] },
      { name: 'recover', duration_s: 1, rate: 300, faults: [] },
    ];
    scenario.drain_timeout_s = 15;
    const result = await runScenario({ scenario: checked(scenario), overrides: {}, broker: 'embedded', out_dir: outDir() });
    expect(result.faults.find((f) => f.kind === 'consumer-crash')?.injected.crashes).toBe(1);
    const aggregator = result.cost!.processes.find((p) => p.role === 'aggregator')!;
    expect(aggregator.incarnations).toBe(2);
    expect(aggregator.cpu_s).toBeGreaterThan(0);
    expect(result.cost!.processes.find((p) => p.role === 'broker')!.incarnations).toBe(1);
    expect(result.cost!.notes.join(' ')).toMatch(/SIGKILLed incarnation spent after its last sample is missed/);
  });
});
