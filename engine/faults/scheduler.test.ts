// The system-fault scheduler with vitest fake timers and fake controls; orderFaultRecords (pure).
//
// Clock: the scheduler and the kill schedule read nowMicros() (aggregator/clock.ts), which is
// process.hrtime.bigint() anchored to Date.now() once at import. Vitest 4's useFakeTimers() fakes
// hrtime too (everything but nextTick and queueMicrotask), so under fake timers nowMicros() moves
// exactly with vi.advanceTimersByTime(); it jumps by a constant offset when fake timers are
// installed and does not follow vi.setSystemTime(). So each test takes its start time from
// nowMicros() *after* vi.useFakeTimers() and measures every call relative to it.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { nowMicros } from '../../aggregator/clock.ts';
import { SCENARIOS } from '../../scenarios/index.ts';
import type { FaultSpec, Phase, Scenario } from '../../scenarios/schema.ts';
import type { FaultRecord } from '../load/messages.ts';
import { orderFaultRecords, scheduleSystemFaults, type SystemControls } from './scheduler.ts';

function scenarioWith(phases: Phase[], seed = 23): Scenario {
  const base = structuredClone(SCENARIOS['slow-sink']!);
  return { ...base, seed, phases };
}

function phase(name: string, duration_s: number, faults: FaultSpec[] = []): Phase {
  return { name, duration_s, rate: 100, faults };
}

type Call = { what: string; at_ms: number; args: unknown[] };

/** Fake controls that record every call with its time (ms since `start_us`). */
function fakeControls(start_us: number, options: { downtimeTakesTime?: boolean } = {}) {
  const calls: Call[] = [];
  const at = () => (nowMicros() - start_us) / 1000;
  const record = (what: string, args: unknown[]) => calls.push({ what, at_ms: at(), args });
  const wait = (ms: number) => (options.downtimeTakesTime ? new Promise<void>((resolve) => setTimeout(resolve, ms)) : Promise.resolve());
  const controls: SystemControls = {
    crashConsumer: async (downtimeMs) => {
      record('crashConsumer', [downtimeMs]);
      await wait(downtimeMs);
      record('consumerBack', []);
    },
    killBroker: async (downtimeMs) => {
      record('killBroker', [downtimeMs]);
      await wait(downtimeMs);
    },
    setSinkSlowdown: (profile, seed) => record('setSinkSlowdown', [profile, seed]),
    stallSink: (ms) => record('stallSink', [ms]),
    addToxic: (...args) => {
      record('addToxic', args);
      return { remove: () => ({}) };
    },
    note: (line) => record('note', [line]),
  };
  return { controls, calls, of: (what: string) => calls.filter((c) => c.what === what) };
}

describe('orderFaultRecords', () => {
  const scenario = scenarioWith([phase('warmup', 1), phase('first', 1), phase('second', 1)]);
  const rec = (p: string, fault: number, kind = 'duplicate'): FaultRecord => ({ phase: p, fault, kind, injected: {} });

  it('orders by phase order (not by name), then by fault index', () => {
    const records = [rec('second', 1), rec('first', 2), rec('second', 0), rec('warmup', 0), rec('first', 0), rec('first', 1)];
    expect(orderFaultRecords(scenario, records).map((r) => `${r.phase}#${r.fault}`)).toEqual([
      'warmup#0',
      'first#0',
      'first#1',
      'first#2',
      'second#0',
      'second#1',
    ]);
  });

  it('is pure: the input is not reordered and the records are the same objects', () => {
    const records = [rec('second', 0), rec('first', 0)];
    const copy = [...records];
    const ordered = orderFaultRecords(scenario, records);
    expect(records).toEqual(copy);
    expect(records[0]).toBe(copy[0]);
    expect(ordered).not.toBe(records);
    expect(ordered[0]).toBe(records[1]);
  });

  it('keeps records of the same phase and index in their given order (workers report the same fault)', () => {
    const a = rec('first', 0, 'reorder');
    const b = rec('first', 0, 'reorder');
    const c = rec('warmup', 3);
    const ordered = orderFaultRecords(scenario, [a, b, c]);
    expect(ordered).toEqual([c, a, b]);
    expect(ordered[1]).toBe(a);
    expect(ordered[2]).toBe(b);
  });

  it('handles an empty list', () => {
    expect(orderFaultRecords(scenario, [])).toEqual([]);
  });
});

describe('scheduleSystemFaults', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sets the sink slowdown at the start of its phase and clears it at the end', async () => {
    const slow: FaultSpec = { kind: 'slow-sink', delay_ms: 20, jitter_ms: 10, stall_every_s: 0, stall_ms: 0 };
    const duplicate: FaultSpec = { kind: 'duplicate', fraction: 0.1, immediate_share: 1, delay_ms: 0, other_connection_share: 0 };
    const scenario = scenarioWith([phase('warmup', 2), phase('slow', 5, [duplicate, slow]), phase('after', 3)]);
    const start_us = nowMicros();
    const { controls, of } = fakeControls(start_us);
    const run = scheduleSystemFaults(scenario, start_us, controls);

    await vi.advanceTimersByTimeAsync(1999);
    expect(of('setSinkSlowdown')).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(of('setSinkSlowdown')).toHaveLength(1);
    const [profile, seed] = of('setSinkSlowdown')[0]!.args as [unknown, number];
    expect(profile).toEqual({ delay_ms: 20, jitter_ms: 10, error_rate: 0 });
    expect(Number.isInteger(seed) && seed >= 0 && seed < 2 ** 32).toBe(true);
    expect(of('setSinkSlowdown')[0]!.at_ms).toBe(2000);

    await vi.advanceTimersByTimeAsync(4999);
    expect(of('setSinkSlowdown')).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(of('setSinkSlowdown')).toHaveLength(2);
    expect(of('setSinkSlowdown')[1]).toEqual({ what: 'setSinkSlowdown', at_ms: 7000, args: [null, 0] });

    const records = await run.finish();
    expect(records).toEqual([{ phase: 'slow', fault: 1, kind: 'slow-sink', injected: { stalls: 0 } }]);
    // Nothing else was touched, and nothing is left scheduled.
    expect(of('stallSink')).toHaveLength(0);
    expect(of('crashConsumer')).toHaveLength(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('stalls the sink every stall_every_s while the phase lasts, and counts the stalls', async () => {
    const slow: FaultSpec = { kind: 'slow-sink', delay_ms: 5, jitter_ms: 0, stall_every_s: 2, stall_ms: 300 };
    const scenario = scenarioWith([phase('slow', 5, [slow])]);
    const start_us = nowMicros();
    const { controls, of } = fakeControls(start_us);
    const run = scheduleSystemFaults(scenario, start_us, controls);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(of('stallSink').map((c) => [c.at_ms, c.args[0]])).toEqual([
      [2000, 300],
      [4000, 300],
    ]);
    expect(await run.finish()).toEqual([{ phase: 'slow', fault: 0, kind: 'slow-sink', injected: { stalls: 2 } }]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('gives the slow-sink the same seed for the same scenario seed, another for another', async () => {
    const slow: FaultSpec = { kind: 'slow-sink', delay_ms: 1, jitter_ms: 1, stall_every_s: 0, stall_ms: 0 };
    const seedOf = async (scenarioSeed: number) => {
      const scenario = scenarioWith([phase('slow', 1, [slow])], scenarioSeed);
      const start_us = nowMicros();
      const { controls, of } = fakeControls(start_us);
      const run = scheduleSystemFaults(scenario, start_us, controls);
      await vi.advanceTimersByTimeAsync(1000);
      await run.finish();
      return of('setSinkSlowdown')[0]!.args[1];
    };
    expect(await seedOf(5)).toBe(await seedOf(5));
    expect(await seedOf(5)).not.toBe(await seedOf(6));
  });

  it('crashes the consumer at at_s and then every every_s, not at the phase end', async () => {
    const crash: FaultSpec = { kind: 'consumer-crash', at_s: 1, every_s: 2, downtime_ms: 100 };
    const scenario = scenarioWith([phase('warmup', 2), phase('crashes', 5, [crash]), phase('recover', 5)]);
    const start_us = nowMicros();
    const { controls, of } = fakeControls(start_us);
    const run = scheduleSystemFaults(scenario, start_us, controls);

    await vi.advanceTimersByTimeAsync(2999);
    expect(of('crashConsumer')).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(of('crashConsumer').map((c) => c.at_ms)).toEqual([3000]);
    await vi.advanceTimersByTimeAsync(20_000);
    // 1 s and 3 s into the 5 s phase (at 2 s + 1 s and 2 s + 3 s); 5 s is the phase end: no strike.
    expect(of('crashConsumer').map((c) => c.at_ms)).toEqual([3000, 5000]);
    expect(of('crashConsumer').every((c) => c.args[0] === 100)).toBe(true);
    expect(of('note')).toHaveLength(2);
    expect(String(of('note')[0]!.args[0])).toMatch(/consumer-crash/);

    expect(await run.finish()).toEqual([{ phase: 'crashes', fault: 0, kind: 'consumer-crash', injected: { crashes: 2, downtime_ms: 200 } }]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('keeps the kill schedule on its grid when the downtime takes time, and waits for a strike in progress at the phase end', async () => {
    const crash: FaultSpec = { kind: 'consumer-crash', at_s: 1, every_s: 2, downtime_ms: 1500 };
    const scenario = scenarioWith([phase('crashes', 5, [crash])]);
    const start_us = nowMicros();
    const { controls, of } = fakeControls(start_us, { downtimeTakesTime: true });
    const run = scheduleSystemFaults(scenario, start_us, controls);
    let finished = false;
    const records = run.finish().then((r) => ((finished = true), r));
    await vi.advanceTimersByTimeAsync(5000);
    expect(of('crashConsumer').map((c) => c.at_ms)).toEqual([1000, 3000]);
    // The second strike's restart is due at 4.5 s: done before the phase end.
    expect(of('consumerBack').map((c) => c.at_ms)).toEqual([2500, 4500]);
    await vi.advanceTimersByTimeAsync(0);
    expect(finished).toBe(true);
    expect((await records)[0]!.injected).toEqual({ crashes: 2, downtime_ms: 3000 });
  });

  it('does not let finish() resolve before a strike that outlives the phase has restarted the process', async () => {
    const crash: FaultSpec = { kind: 'consumer-crash', at_s: 4, every_s: 0, downtime_ms: 3000 };
    const scenario = scenarioWith([phase('crashes', 5, [crash]), phase('after', 5)]);
    const start_us = nowMicros();
    const { controls, of } = fakeControls(start_us, { downtimeTakesTime: true });
    const run = scheduleSystemFaults(scenario, start_us, controls);
    let finished = false;
    const records = run.finish().then((r) => ((finished = true), r));
    await vi.advanceTimersByTimeAsync(5000); // phase over, process still down
    expect(of('crashConsumer').map((c) => c.at_ms)).toEqual([4000]);
    expect(finished).toBe(false);
    await vi.advanceTimersByTimeAsync(1999);
    expect(finished).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(of('consumerBack').map((c) => c.at_ms)).toEqual([7000]);
    expect(finished).toBe(true);
    expect(await records).toEqual([{ phase: 'crashes', fault: 0, kind: 'consumer-crash', injected: { crashes: 1, downtime_ms: 3000 } }]);
  });

  it('strikes once when every_s is 0, and never when at_s is past the phase', async () => {
    const once: FaultSpec = { kind: 'broker-kill', at_s: 0.5, every_s: 0, downtime_ms: 10 };
    const never: FaultSpec = { kind: 'consumer-crash', at_s: 5, every_s: 1, downtime_ms: 10 };
    const scenario = scenarioWith([phase('p', 5, [once, never])]);
    const start_us = nowMicros();
    const { controls, of } = fakeControls(start_us);
    const run = scheduleSystemFaults(scenario, start_us, controls);
    await vi.advanceTimersByTimeAsync(6000);
    expect(of('killBroker').map((c) => c.at_ms)).toEqual([500]);
    expect(of('crashConsumer')).toHaveLength(0);
    const records = await run.finish();
    expect(records.map((r) => [r.fault, r.kind, r.injected.crashes ?? r.injected.kills])).toEqual([
      [0, 'broker-kill', 1],
      [1, 'consumer-crash', 0],
    ]);
  });

  it('returns no records and schedules nothing for a scenario without system faults', async () => {
    const duplicate: FaultSpec = { kind: 'duplicate', fraction: 0.1, immediate_share: 1, delay_ms: 0, other_connection_share: 0 };
    const scenario = scenarioWith([phase('a', 1, [duplicate]), phase('b', 1)]);
    const start_us = nowMicros();
    const { controls, calls } = fakeControls(start_us);
    const run = scheduleSystemFaults(scenario, start_us, controls);
    expect(vi.getTimerCount()).toBe(0);
    expect(await run.finish()).toEqual([]);
    expect(calls).toEqual([]);
  });

  it('runs faults of several phases, each in its own window, and finish() lists them in phase order', async () => {
    const slow: FaultSpec = { kind: 'slow-sink', delay_ms: 3, jitter_ms: 0, stall_every_s: 0, stall_ms: 0 };
    const crash: FaultSpec = { kind: 'consumer-crash', at_s: 0, every_s: 0, downtime_ms: 0 };
    const scenario = scenarioWith([phase('one', 2, [crash]), phase('two', 2), phase('three', 1, [slow])]);
    const start_us = nowMicros();
    const { controls, calls } = fakeControls(start_us);
    const run = scheduleSystemFaults(scenario, start_us, controls);
    await vi.advanceTimersByTimeAsync(10_000);
    // at_s 0 strikes at the phase start; a setTimeout(0) made inside a timer callback runs 1 ms
    // later (Node's minimum delay, which the fake timers reproduce).
    const crashAt = calls.find((c) => c.what === 'crashConsumer')!.at_ms;
    expect(crashAt).toBeGreaterThanOrEqual(0);
    expect(crashAt).toBeLessThanOrEqual(1);
    expect(calls.filter((c) => c.what !== 'note' && c.what !== 'consumerBack').map((c) => [c.what, c.what === 'crashConsumer' ? 0 : c.at_ms])).toEqual([
      ['crashConsumer', 0],
      ['setSinkSlowdown', 4000],
      ['setSinkSlowdown', 5000],
    ]);
    const records = await run.finish();
    expect(records.map((r) => [r.phase, r.kind])).toEqual([
      ['one', 'consumer-crash'],
      ['three', 'slow-sink'],
    ]);
  });

  it('starts a phase that is already under way at once (start in the past)', async () => {
    const slow: FaultSpec = { kind: 'slow-sink', delay_ms: 3, jitter_ms: 0, stall_every_s: 0, stall_ms: 0 };
    const scenario = scenarioWith([phase('late', 2, [slow])]);
    const now = nowMicros();
    const start_us = now - 500_000;
    const { controls, of } = fakeControls(start_us);
    const run = scheduleSystemFaults(scenario, start_us, controls);
    await vi.advanceTimersByTimeAsync(0);
    expect(of('setSinkSlowdown').map((c) => c.at_ms)).toEqual([500]);
    await vi.advanceTimersByTimeAsync(1500);
    expect(of('setSinkSlowdown').map((c) => c.at_ms)).toEqual([500, 2000]);
    await run.finish();
  });
});
