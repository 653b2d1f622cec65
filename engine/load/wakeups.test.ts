// The load worker's one timer (engine/load/wakeups.ts) under fake time: tasks run never before
// their time, in time order (first in, first out on ties), on wake-ups at most one interval apart
// however many tasks fall between, and no task runs more than one interval late.

import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Wakeups } from './wakeups.ts';

const T0_MS = Date.UTC(2026, 0, 1);
const clock = () => Date.now() * 1000;

describe('Wakeups', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(T0_MS);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('runs each task on the first wake-up at or after its time, never before', async () => {
    const wakeups = new Wakeups(4_000, clock);
    const ran: [string, number][] = [];
    const at = (label: string, ms: number) => wakeups.at((T0_MS + ms) * 1000, () => ran.push([label, Date.now() - T0_MS]));
    at('c', 30);
    at('a', 10);
    at('b', 10);
    at('d', 11);
    await vi.advanceTimersByTimeAsync(9);
    expect(ran).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    // a and b in the order given; d is due 1 ms later, inside the interval: it waits for the next wake-up.
    expect(ran).toEqual([
      ['a', 10],
      ['b', 10],
    ]);
    await vi.advanceTimersByTimeAsync(3);
    expect(ran).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(ran.slice(2)).toEqual([['d', 14]]);
    await vi.advanceTimersByTimeAsync(100);
    expect(ran.slice(3)).toEqual([['c', 30]]);
    expect(wakeups.pending).toBe(0);
    expect(wakeups.wakes).toBe(3);
  });

  it('until() resolves on the wake-up at or after the time', async () => {
    const wakeups = new Wakeups(2_000, clock);
    let at = -1;
    void wakeups.until((T0_MS + 7) * 1000).then(() => (at = Date.now() - T0_MS));
    await vi.advanceTimersByTimeAsync(6);
    expect(at).toBe(-1);
    await vi.advanceTimersByTimeAsync(1);
    expect(at).toBe(7);
  });

  it('a task added for an earlier time than the armed timer is not held back by it', async () => {
    const wakeups = new Wakeups(4_000, clock);
    const ran: number[] = [];
    wakeups.at((T0_MS + 500) * 1000, () => ran.push(Date.now() - T0_MS));
    wakeups.at((T0_MS + 5) * 1000, () => ran.push(Date.now() - T0_MS));
    await vi.advanceTimersByTimeAsync(600);
    expect(ran).toEqual([5, 500]);
  });

  it('batches: whatever the tasks, wake-ups are at least one interval apart and each task at most one interval late', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.array(fc.integer({ min: 0, max: 200_000 }), { minLength: 1, maxLength: 300 }), fc.array(fc.integer({ min: 0, max: 2_000 }), { minLength: 1, maxLength: 300 }).map((steps) => steps.map((_, i) => steps.slice(0, i + 1).reduce((a, b) => a + b, 0) % 200_001))), fc.integer({ min: 1, max: 8 }), async (offsetsUs, intervalMs) => {
        vi.setSystemTime(T0_MS);
        const wakeups = new Wakeups(intervalMs * 1000, clock);
        const wakeTimes = new Set<number>();
        const lateness: number[] = [];
        const order: number[] = [];
        for (const [index, offset] of offsetsUs.entries()) {
          const due = T0_MS * 1000 + offset;
          wakeups.at(due, () => {
            order.push(index);
            const now = clock();
            wakeTimes.add(now);
            lateness.push(now - due);
          });
        }
        await vi.advanceTimersByTimeAsync(250 + intervalMs);
        expect(lateness).toHaveLength(offsetsUs.length);
        // In time order, first in first out on ties (whether a task went to the FIFO or the heap).
        expect(order).toEqual(offsetsUs.map((offset, index) => ({ offset, index })).sort((a, b) => a.offset - b.offset || a.index - b.index).map((t) => t.index));
        expect(Math.min(...lateness)).toBeGreaterThanOrEqual(0);
        // Whole-ms timers: at most the interval plus the ms the timer rounds up to.
        expect(Math.max(...lateness)).toBeLessThanOrEqual(intervalMs * 1000 + 1_000);
        const times = [...wakeTimes].sort((a, b) => a - b);
        for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(intervalMs * 1000);
        expect(wakeups.wakes).toBe(times.length);
        // 200 ms of tasks: never more wake-ups than intervals in it (a timer per task would have one per distinct ms).
        expect(times.length).toBeLessThanOrEqual(Math.floor(200 / intervalMs) + 1);
      }),
      { numRuns: 60 },
    );
  });
});
