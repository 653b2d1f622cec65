// The CPU meter: the stat parser, incarnations summed across a restart, and a child that burns a
// known amount of CPU measured from /proc (the child's own process.cpuUsage() is only the yardstick).

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { clockTicksPerSecond, costSection, CpuMeter, currentThreadId, harnessBusiest, parseSchedWaitNs, parseStatTicks, readCpuTicks, readWaitNs, type ProcessId } from './process-cpu.ts';

describe('parseStatTicks', () => {
  it('adds utime and stime (fields 14 and 15), past a command name with spaces and parentheses', () => {
    const stat = '4242 (node (x) y) S 1 4242 4242 0 -1 4194560 9000 0 0 0 731 69 0 0 20 0 11 0 123 1000 100 184467';
    expect(parseStatTicks(stat)).toBe(800);
    expect(parseStatTicks('no stat here')).toBeUndefined();
  });

  it("reads this process and this thread from /proc, and a worker's tid differs from the process id", () => {
    expect(readCpuTicks({ pid: process.pid })).toBeGreaterThan(0);
    expect(readCpuTicks({ pid: process.pid, tid: process.pid })).toBeGreaterThanOrEqual(0);
    expect(currentThreadId()).toBe(process.pid);
    expect(readCpuTicks({ pid: 2 ** 22 + 1 })).toBeUndefined();
    expect(clockTicksPerSecond()).toBeGreaterThan(0);
  });

  it('reads the run-queue wait (the second field of schedstat) of this thread, and nothing of one that is gone', () => {
    expect(parseSchedWaitNs('568241378 232253765 530\n')).toBe(232253765);
    expect(parseSchedWaitNs('not a schedstat')).toBeUndefined();
    expect(parseSchedWaitNs('1 -5 3')).toBeUndefined();
    expect(readWaitNs({ pid: process.pid, tid: process.pid })).toBeGreaterThanOrEqual(0);
    expect(readWaitNs({ pid: 2 ** 22 + 1 })).toBeUndefined();
  });
});

describe('CpuMeter', () => {
  it("sums the last reading of every incarnation of a role, a new pid being a new incarnation, and counts the harness's own thread from its first reading", () => {
    const ticks = new Map<number, number>([[10, 50], [1, 1000]]);
    let current: ProcessId | undefined = { pid: 10 };
    const meter = new CpuMeter(100, 1000, (id) => ticks.get(id.pid), () => undefined);
    meter.watch('aggregator', () => current);
    meter.watch('harness main thread', () => ({ pid: 1, tid: 1 }), { from_first_reading: true });
    ticks.set(10, 120);
    ticks.set(1, 1040);
    meter.sample(); // the last reading of incarnation 1, right before its kill
    ticks.delete(10); // killed: gone from /proc
    current = { pid: 11 };
    ticks.set(11, 30);
    meter.sample();
    ticks.set(11, 80);
    meter.sample();
    expect(meter.totals()).toEqual([
      { role: 'aggregator', cpu_s: 2, incarnations: 2 },
      { role: 'harness main thread', cpu_s: 0.4, incarnations: 1 },
    ]);
    const cost = costSection({ clock_ticks_per_s: 100, sampling_interval_s: 1, messages: 1000, processes: meter.totals(), harness_process_cpu_s: 0.5, not_measured: [] });
    expect(cost.processes[0]).toEqual({ role: 'aggregator', cpu_s: 2, us_per_message: 2000, incarnations: 2 });
    expect(cost.notes.join(' ')).toMatch(/SIGKILLed incarnation.*missed/);
  });

  it("splits each role's CPU at the schedule's start: start-up up to markStart, a role watched later none, and µs per message from there", () => {
    const ticks = new Map<number, number>([[10, 40], [1, 1000], [20, 5]]);
    const meter = new CpuMeter(100, 1000, (id) => ticks.get(id.pid), () => undefined);
    meter.watch('aggregator', () => ({ pid: 10 }));
    meter.watch('harness main thread', () => ({ pid: 1, tid: 1 }), { from_first_reading: true });
    expect(meter.totals().every((t) => t.startup_cpu_s === undefined)).toBe(true);
    ticks.set(10, 70);
    ticks.set(1, 1010);
    meter.markStart();
    meter.watch('load worker 1', () => ({ pid: 20 }));
    ticks.set(10, 170);
    ticks.set(1, 1030);
    ticks.set(20, 25);
    meter.sample();
    const totals = meter.totals();
    expect(totals).toEqual([
      { role: 'aggregator', cpu_s: 1.7, incarnations: 1, startup_cpu_s: 0.7 },
      { role: 'harness main thread', cpu_s: 0.3, incarnations: 1, startup_cpu_s: 0.1 },
      { role: 'load worker 1', cpu_s: 0.25, incarnations: 1, startup_cpu_s: 0 },
    ]);
    const cost = costSection({ clock_ticks_per_s: 100, sampling_interval_s: 1, messages: 1000, processes: totals, harness_process_cpu_s: 3, harness_process_startup_cpu_s: 1, not_measured: [] });
    expect(cost.processes[0]).toEqual({ role: 'aggregator', cpu_s: 1.7, us_per_message: 1700, incarnations: 1, startup_cpu_s: 0.7, running_us_per_message: 1000 });
    expect(cost.harness_process).toEqual({ cpu_s: 3, us_per_message: 3000, startup_cpu_s: 1, running_us_per_message: 2000 });
    expect(cost.notes.join(' ')).toMatch(/startup_cpu_s is its CPU before the load schedule started/);
    // The load ends: what follows is after it.
    meter.markLoadEnd();
    ticks.set(10, 200);
    ticks.set(1, 1035);
    meter.sample();
    const ended = meter.totals();
    expect(ended).toEqual([
      { role: 'aggregator', cpu_s: 2, incarnations: 1, startup_cpu_s: 0.7, after_load_cpu_s: 0.3 },
      { role: 'harness main thread', cpu_s: 0.35, incarnations: 1, startup_cpu_s: 0.1, after_load_cpu_s: 0.05 },
      { role: 'load worker 1', cpu_s: 0.25, incarnations: 1, startup_cpu_s: 0, after_load_cpu_s: 0 },
    ]);
    const both = costSection({ clock_ticks_per_s: 100, sampling_interval_s: 1, messages: 1000, processes: ended, harness_process_cpu_s: 3, harness_process_startup_cpu_s: 1, harness_process_after_load_cpu_s: 0.5, not_measured: [] });
    expect(both.processes[0]).toEqual({ role: 'aggregator', cpu_s: 2, us_per_message: 2000, incarnations: 1, startup_cpu_s: 0.7, running_us_per_message: 1300, after_load_cpu_s: 0.3, load_us_per_message: 1000 });
    expect(both.harness_process).toEqual({ cpu_s: 3, us_per_message: 3000, startup_cpu_s: 1, running_us_per_message: 2000, after_load_cpu_s: 0.5, load_us_per_message: 1500 });
    expect(both.notes.join(' ')).toMatch(/after_load_cpu_s is its CPU after the load ended/);
    // The end is marked only after a start: a meter never started has no split at all.
    const unstarted = new CpuMeter(100, 1000, () => 5, () => undefined);
    unstarted.watch('broker', () => ({ pid: 3 }));
    unstarted.markLoadEnd();
    expect(unstarted.totals()).toEqual([{ role: 'broker', cpu_s: 0.05, incarnations: 1 }]);
    // Without the harness's split (or any row's), none is recorded: a partial split would mislead a sum.
    const without = costSection({ clock_ticks_per_s: 100, sampling_interval_s: 1, messages: 1000, processes: totals, harness_process_cpu_s: 3, not_measured: [] });
    expect(without.processes[0]).toEqual({ role: 'aggregator', cpu_s: 1.7, us_per_message: 1700, incarnations: 1 });
    expect(without.notes.join(' ')).not.toMatch(/startup_cpu_s/);
  });

  it("gives each row its cores and its share of the load's wall time spent waiting for a core, and names the busiest harness thread", () => {
    const ticks = new Map<number, number>([[10, 0], [1, 100], [20, 0]]);
    const waits = new Map<number, number>([[10, 5e6], [1, 0], [20, 0]]);
    let wall = 0;
    const meter = new CpuMeter(100, 1000, (id) => ticks.get(id.tid ?? id.pid), (id) => waits.get(id.tid ?? id.pid), () => wall);
    meter.watch('broker', () => ({ pid: 10 }));
    meter.watch('harness main thread', () => ({ pid: 1, tid: 1 }), { from_first_reading: true });
    meter.watch('load worker 1', () => ({ pid: 1, tid: 20 }));
    ticks.set(20, 30);
    wall = 1_000;
    meter.markStart();
    // 4 s of load: the broker runs 2 s and waits 1 s; the load worker runs 3.2 s and waits 0.6 s.
    ticks.set(10, 200);
    waits.set(10, 1e9 + 5e6);
    ticks.set(1, 140);
    waits.set(1, 2e8);
    ticks.set(20, 350);
    waits.set(20, 6e8);
    wall = 5_000;
    meter.markLoadEnd();
    expect(meter.loadWallSeconds()).toBe(4);
    // Waiting after the load is not the load's.
    waits.set(10, 9e9);
    meter.sample();
    const totals = meter.totals();
    expect(totals.map((t) => t.load_wait_s)).toEqual([1, 0.2, 0.6]);
    const cost = costSection({ clock_ticks_per_s: 100, sampling_interval_s: 1, messages: 1000, processes: totals, harness_process_cpu_s: 5, harness_process_startup_cpu_s: 1, harness_process_after_load_cpu_s: 0, load_wall_s: meter.loadWallSeconds()!, not_measured: [] });
    expect(cost.load_wall_s).toBe(4);
    expect(cost.processes.map((p) => [p.role, p.load_cores, p.load_wait_share])).toEqual([
      ['broker', 0.5, 0.25],
      ['harness main thread', 0.1, 0.05],
      ['load worker 1', 0.8, 0.15],
    ]);
    expect(cost.harness_process.load_cores).toBe(1);
    // The broker was busier, but it is not the harness's: the load worker is its busiest thread.
    expect(cost.harness_busiest).toEqual({ role: 'load worker 1', cores: 0.8, wait_share: 0.15, busy_share: 0.95 });
    expect(cost.notes.join(' ')).toMatch(/load_wait_share is the share of that time/);
    // A thread whose schedstat could not be read has no share, and then no row has (nor a busiest thread).
    const unread = new CpuMeter(100, 1000, () => 10, () => undefined, () => wall);
    unread.watch('load worker 1', () => ({ pid: 1, tid: 2 }));
    unread.markStart();
    wall += 1_000;
    unread.markLoadEnd();
    const none = costSection({ clock_ticks_per_s: 100, sampling_interval_s: 1, messages: 10, processes: unread.totals(), harness_process_cpu_s: 1, harness_process_startup_cpu_s: 0, harness_process_after_load_cpu_s: 0, load_wall_s: 1, not_measured: [] });
    expect(none.processes[0]!.load_cores).toBe(0);
    expect(none.processes[0]!.load_wait_share).toBeUndefined();
    expect(none.harness_busiest).toBeUndefined();
    expect(harnessBusiest([{ role: 'broker', cpu_s: 1, us_per_message: 1, incarnations: 1, load_cores: 1, load_wait_share: 0 }])).toBeUndefined();
    // A process that exits between the read of its CPU and that of its wait is gone, not unread:
    // its wait up to its last reading still counts.
    let alive = true;
    let reads = 0;
    const racing = new CpuMeter(100, 1000, () => (alive ? 50 : undefined), () => (++reads >= 4 ? ((alive = false), undefined) : 1e8 * reads), () => wall);
    racing.watch('aggregator', () => ({ pid: 7 }));
    racing.markStart();
    wall += 1_000;
    racing.sample();
    racing.markLoadEnd();
    expect(racing.totals()[0]!.load_wait_s).toBe(0.1);
  });

  it('measures a child that burns 300 ms of CPU from /proc, within a tick or two plus its start-up', async () => {
    // The child spins until its own count says 300 ms (the yardstick), says so, and waits to be killed.
    const child = spawn(process.execPath, ['-e', "const s = process.cpuUsage(); while ((u => u.user + u.system)(process.cpuUsage(s)) < 300000); console.log(JSON.stringify(process.cpuUsage())); setInterval(() => {}, 1000);"], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const meter = new CpuMeter();
      meter.watch('child', () => (child.pid === undefined ? undefined : { pid: child.pid }));
      const [line] = (await once(child.stdout!, 'data')) as [Buffer];
      const own = JSON.parse(line.toString()) as { user: number; system: number };
      const ownSeconds = (own.user + own.system) / 1e6;
      await meter.around(async () => {
        child.kill('SIGKILL');
        await once(child, 'exit');
      });
      const [measured] = meter.totals();
      const tick = 1 / meter.clock_ticks_per_s;
      expect(ownSeconds).toBeGreaterThanOrEqual(0.3);
      // /proc counts the whole process, start-up included; the child's own count is of the same kernel accounts.
      expect(measured!.cpu_s).toBeGreaterThanOrEqual(0.3 - 2 * tick);
      expect(Math.abs(measured!.cpu_s - ownSeconds)).toBeLessThanOrEqual(0.05 + 2 * tick);
      expect(measured!.incarnations).toBe(1);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
