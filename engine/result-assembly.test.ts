// The validity rules of assembleResult on hand-made load outcomes: the offered rate is what the
// generator handed off within each phase (not the schedule's count), and generator lag is judged
// per measured phase, so a short phase that fell behind cannot hide in a long one's histogram.

import { describe, expect, it } from 'vitest';
import type { SinkRow } from '../aggregator/sink/index.ts';
import { DEFAULT_AGGREGATOR, DEFAULT_LOAD, NOTHING_LOST_NOTHING_DOUBLED, WARMUP } from '../scenarios/defaults.ts';
import type { Scenario } from '../scenarios/schema.ts';
import type { LoadOutcome, PhaseWindow } from './load/generator.ts';
import { PublishLog } from './load/log.ts';
import { LatencyRecorder } from './metrics/histogram.ts';
import { costSection, type CostSection } from './metrics/process-cpu.ts';
import { assembleFromLoad } from '../test-support/result-fixture.ts';
import { expectValidApartFromGeneratorLag } from '../test-support/run-expectations.ts';

const T0 = 1_767_225_600_000_000;

interface PhasePlan {
  name: string;
  duration_s: number;
  rate: number;
  /** Events handed off before the phase ended (the rest went out after it). */
  handed_off?: number;
  /** Generator lag of every handed-off event (µs), or of the first `late` of them. */
  lag_us: number;
  late?: { count: number; lag_us: number };
}

/**
 * A run in which every scheduled event was published, acked and committed 5 ms after its intended
 * time; only the generator's own figures (hand-off within the phase, lag) differ between tests.
 */
function run(plans: PhasePlan[], extra: { model?: 'open' | 'closed'; cost?: CostSection } = {}) {
  const scenario: Scenario = {
    name: 'assembly-test',
    description: 'hand-made load outcome',
    seed: 1,
    load: { ...DEFAULT_LOAD, publishers: 1, ...(extra.model === 'closed' ? { model: 'closed' as const, concurrency: 100 } : {}) },
    phases: plans.map((p) => (p.name === WARMUP.name ? { ...WARMUP, duration_s: p.duration_s, rate: p.rate } : { name: p.name, duration_s: p.duration_s, rate: p.rate, faults: [] })),
    aggregator: { ...DEFAULT_AGGREGATOR },
    drain_timeout_s: 5,
    checks: [...NOTHING_LOST_NOTHING_DOUBLED],
  };
  const log = new PublishLog();
  const record = log.record('pub-0');
  const rows: SinkRow[] = [];
  const phases: PhaseWindow[] = [];
  let start = T0;
  let seq = 0;
  for (const plan of plans) {
    const count = plan.rate * plan.duration_s;
    const end = start + plan.duration_s * 1e6;
    const lag = new LatencyRecorder();
    for (let k = 0; k < count; k++, seq++) {
      const intended = start + Math.floor((k * 1e6) / plan.rate);
      log.add(record, seq, intended);
      log.sent(record, seq, false);
      log.acked(record, seq, false);
      rows.push({ event_id: `e${seq}`, source: 'pub-0', seq, committed_us: intended + 5_000, intended_us: intended, deliveries: 1 });
      lag.record(plan.late && k < plan.late.count ? plan.late.lag_us : plan.lag_us);
    }
    phases.push({ name: plan.name, start_us: start, end_us: end, target_rate: plan.rate, scheduled: count, handed_off: plan.handed_off ?? count, dropped_late: 0, dropped_window: 0, lag });
    start = end;
  }
  const pooled = new LatencyRecorder();
  phases.forEach((p) => p.name !== WARMUP.name && pooled.merge(p.lag));
  const load: LoadOutcome = { log, phases, lag: pooled, publish_ack: new LatencyRecorder(), window_waits: 0, faults: [], start_us: T0, unsettled: 0 };
  const excluded = new Set(plans.flatMap((p, i) => (p.name === WARMUP.name ? [i] : [])));
  return assembleFromLoad('assembly-test', scenario, load, rows, excluded, extra.cost ? { cost: extra.cost } : {});
}

/** A cost section whose busiest harness thread had work `busy_share` of the load's wall time. */
function costWith(busy_share: number): CostSection {
  const processes = costSection({ clock_ticks_per_s: 100, sampling_interval_s: 1, messages: 1000, processes: [
    { role: 'harness main thread', cpu_s: 1, incarnations: 1, startup_cpu_s: 0.5, after_load_cpu_s: 0.4, load_wait_s: 0.1 },
    { role: 'load worker 1', cpu_s: 5, incarnations: 1, startup_cpu_s: 0.2, after_load_cpu_s: 0, load_wait_s: (busy_share - 0.48) * 10 },
  ], harness_process_cpu_s: 6, harness_process_startup_cpu_s: 0.7, harness_process_after_load_cpu_s: 0.4, load_wall_s: 10, not_measured: [] });
  return processes;
}

describe('assembleResult: the harness as the bound in the closed model', () => {
  it('makes a closed-model run invalid when a harness thread had work 80% of the time the load ran or more, naming it; below that, or in the open model, not', () => {
    const steady = [{ name: 'steady', duration_s: 2, rate: 500, lag_us: 1_000 }];
    const bound = run(steady, { model: 'closed', cost: costWith(0.85) });
    expect(bound.cost!.harness_busiest).toEqual({ role: 'load worker 1', cores: 0.48, wait_share: 0.37, busy_share: 0.85 });
    expect(bound.valid).toBe(false);
    expect(bound.invalid_reasons).toEqual([
      'the harness was the bound: its load worker 1 was running or waiting for a core 85% of the time the load ran (running 48%, waiting 37%; 80% or more in the closed model), so the committed rate is what the harness could offer on this machine, not the system\'s capacity (more load workers may help: load.workers)',
    ]);
    // Its checks still stand: nothing was lost.
    expect(bound.passed).toBe(true);
    // Starved rather than busy (it waited more than it ran): the machine, not the load workers, is what to change.
    expect(run(steady, { model: 'closed', cost: costWith(0.99) }).invalid_reasons[0]).toMatch(/\(running 48%, waiting 51%; 80% or more in the closed model\), .*\(it waited for a core more than it ran: the machine, shared with what it measures, had no CPU to spare for it;/);
    expect(run(steady, { model: 'closed', cost: costWith(0.79) }).valid).toBe(true);
    // The open model has its own rules for a generator that cannot keep up (lag, offered rate).
    expect(run(steady, { model: 'open', cost: costWith(0.95) }).valid).toBe(true);
    // Without the shares (a result from before them, no schedstat) there is nothing to judge.
    const unread = costWith(0.95);
    delete unread.harness_busiest;
    expect(run(steady, { model: 'closed', cost: unread }).valid).toBe(true);
  });
});

describe('assembleResult: offered rate and generator lag, measured per phase', () => {
  it('records the installed version of every package it names (aedes exports no ./package.json and was recorded as unknown)', () => {
    const versions = run([{ name: 'steady', rate: 100, duration_s: 1, lag_us: 1_000 }]).versions;
    for (const [name, version] of Object.entries(versions)) expect(version, name).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('a clean run is valid, offering what it handed off within each phase', () => {
    const result = run([
      { name: 'warmup', duration_s: 1, rate: 100, lag_us: 1_000 },
      { name: 'steady', duration_s: 2, rate: 500, lag_us: 1_000 },
    ]);
    expect(result.invalid_reasons).toEqual([]);
    expect(result.valid).toBe(true);
    expect(result.passed).toBe(true);
    expect(result.throughput.offered_per_s).toBe(500);
    expect(result.phases.map((p) => [p.name, p.offered_per_s, p.dropped, p.lag_p99_ms])).toEqual([
      ['warmup', 100, 0, 1],
      ['steady', 500, 0, 1],
    ]);
  });

  it('offered falls when hand-offs land after the phase end, and the run is invalid, though every event was published and committed', () => {
    // 1,000 scheduled and published, but only 800 handed off before the phase ended: the rest went
    // out late, after it. The schedule's count ÷ duration would say 500 ev/s.
    const result = run([{ name: 'steady', duration_s: 2, rate: 500, handed_off: 800, lag_us: 1_000 }]);
    expect(result.totals.published).toBe(1000);
    expect(result.totals.unique_committed).toBe(1000);
    expect(result.passed).toBe(true);
    expect(result.phases[0]!.offered_per_s).toBe(400);
    expect(result.throughput.offered_per_s).toBe(400);
    expect(result.valid).toBe(false);
    expect(result.invalid_reasons).toEqual([
      "the generator offered 400 ev/s in phase 'steady' (events handed off before the phase ended) against a target of 500 ev/s (below 95%): the harness, not the system, was the limit",
    ]);
  });

  it('judges generator lag per measured phase: a short phase that fell behind makes the run invalid even when the pooled p99 is fine', () => {
    // 20,000 events at 1 ms of lag, then a 1 s phase of 100 events 300 ms late: 0.5% of the pool,
    // so the pooled p99 is 1 ms; the short phase's own p99 is 300 ms.
    const result = run([
      { name: 'long', duration_s: 20, rate: 1_000, lag_us: 1_000 },
      { name: 'short', duration_s: 1, rate: 100, lag_us: 300_000 },
    ]);
    expect(result.generator.lag_p99_ms).toBeLessThan(2);
    expect(result.phases.map((p) => p.lag_p99_ms)).toEqual([1, 300.031]);
    expect(result.valid).toBe(false);
    expect(result.invalid_reasons).toEqual(["the generator fell behind its schedule in phase 'short': lag p99 300.0 ms > 100 ms (more load workers may help: load.workers)"]);
  });

  it("is the lag reason the end-to-end tests allow (run-expectations.ts), and no other reason is", () => {
    expectValidApartFromGeneratorLag(run([{ name: 'short', duration_s: 1, rate: 100, lag_us: 300_000 }]));
    const offeredTooLittle = run([{ name: 'steady', duration_s: 2, rate: 500, handed_off: 800, lag_us: 1_000 }]);
    expect(() => expectValidApartFromGeneratorLag(offeredTooLittle)).toThrow();
  });

  it("leaves the warm-up's lag out of the verdict and out of the pooled figure", () => {
    const result = run([
      { name: 'warmup', duration_s: 1, rate: 100, lag_us: 1_000, late: { count: 50, lag_us: 400_000 } },
      { name: 'steady', duration_s: 2, rate: 500, lag_us: 2_000 },
    ]);
    expect(result.phases[0]!.lag_p99_ms).toBeGreaterThan(100);
    expect(result.generator.lag_p99_ms).toBe(2);
    expect(result.valid).toBe(true);
  });
});
