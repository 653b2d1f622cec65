// SinkSlowdown with an injected clock: pure arithmetic, no waiting.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SinkSlowdown } from './slowdown.ts';

/** A clock the test moves by hand. */
function manualClock(start = 1_000_000) {
  let t = start;
  return {
    now: () => t,
    advance: (ms: number) => void (t += ms),
  };
}

function delays(slowdown: SinkSlowdown, n: number): number[] {
  return Array.from({ length: n }, () => slowdown.nextDelayMs());
}

describe('SinkSlowdown', () => {
  it('waits the base delay, without jitter, when nothing is set', () => {
    const clock = manualClock();
    for (const base of [0, 5, 12.5]) {
      const slowdown = new SinkSlowdown(base, 1, clock.now);
      expect(delays(slowdown, 20)).toEqual(Array(20).fill(base));
      clock.advance(1000);
      expect(slowdown.nextDelayMs()).toBe(base);
    }
  });

  it('rejects an invalid base delay', () => {
    for (const bad of [-1, -0.001, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      expect(() => new SinkSlowdown(bad, 1), String(bad)).toThrow(RangeError);
      expect(() => new SinkSlowdown(bad, 1), String(bad)).toThrow(/sink delay must be a finite number >= 0/);
    }
    expect(() => new SinkSlowdown(0, 1)).not.toThrow();
  });

  it('a profile with jitter stays within [delay, delay + jitter)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        // Whole and half milliseconds, as scenarios write them (denormal jitter would round up to
        // the bound in floating point, which says nothing about the sink).
        fc.integer({ min: 0, max: 20_000 }).map((n) => n / 2),
        fc.integer({ min: 1, max: 20_000 }).map((n) => n / 2),
        (seed, delay_ms, jitter_ms) => {
          const slowdown = new SinkSlowdown(3, 0, manualClock().now);
          slowdown.set({ delay_ms, jitter_ms }, seed);
          for (const d of delays(slowdown, 50)) {
            expect(d).toBeGreaterThanOrEqual(delay_ms);
            expect(d).toBeLessThan(delay_ms + jitter_ms);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('jitter actually varies and spreads over the range', () => {
    const slowdown = new SinkSlowdown(0, 0, manualClock().now);
    slowdown.set({ delay_ms: 20, jitter_ms: 20 }, 1234);
    const values = delays(slowdown, 2000);
    expect(new Set(values).size).toBeGreaterThan(1900);
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    expect(mean).toBeGreaterThan(29);
    expect(mean).toBeLessThan(31);
    expect(Math.min(...values)).toBeLessThan(21);
    expect(Math.max(...values)).toBeGreaterThan(39);
  });

  it('a profile without jitter gives exactly its delay', () => {
    const slowdown = new SinkSlowdown(3, 0, manualClock().now);
    slowdown.set({ delay_ms: 40, jitter_ms: 0 }, 9);
    expect(delays(slowdown, 10)).toEqual(Array(10).fill(40));
  });

  it('is reproducible with the same seed, whatever the constructor seed, base delay and earlier draws', () => {
    const a = new SinkSlowdown(0, 1, manualClock().now);
    const b = new SinkSlowdown(7, 2, manualClock().now);
    b.set({ delay_ms: 1, jitter_ms: 100 }, 5);
    delays(b, 17); // earlier draws from another stream
    a.set({ delay_ms: 10, jitter_ms: 5 }, 42);
    b.set({ delay_ms: 10, jitter_ms: 5 }, 42);
    expect(delays(a, 100)).toEqual(delays(b, 100));

    const c = new SinkSlowdown(0, 1, manualClock().now);
    c.set({ delay_ms: 10, jitter_ms: 5 }, 43);
    const d = new SinkSlowdown(0, 1, manualClock().now);
    d.set({ delay_ms: 10, jitter_ms: 5 }, 42);
    expect(delays(c, 100)).not.toEqual(delays(d, 100));
  });

  it('without a seed in set(), the jitter comes from the constructor seed (reproducible per seed)', () => {
    const make = (seed: number) => {
      const s = new SinkSlowdown(0, seed, manualClock().now);
      s.set({ delay_ms: 0, jitter_ms: 10 });
      return delays(s, 50);
    };
    expect(make(8)).toEqual(make(8));
    expect(make(8)).not.toEqual(make(9));
  });

  it('set(undefined) goes back to the base delay', () => {
    const slowdown = new SinkSlowdown(4, 1, manualClock().now);
    slowdown.set({ delay_ms: 50, jitter_ms: 25 }, 3);
    expect(slowdown.nextDelayMs()).toBeGreaterThanOrEqual(50);
    slowdown.set(undefined);
    expect(delays(slowdown, 10)).toEqual(Array(10).fill(4));
    slowdown.set(undefined, 99);
    expect(delays(slowdown, 10)).toEqual(Array(10).fill(4));
  });

  it('stall(ms) adds the remaining stall time and then expires', () => {
    const clock = manualClock();
    const slowdown = new SinkSlowdown(5, 1, clock.now);
    slowdown.stall(100);
    expect(slowdown.nextDelayMs()).toBe(105);
    expect(slowdown.nextDelayMs()).toBe(105); // reading does not consume the stall
    clock.advance(30);
    expect(slowdown.nextDelayMs()).toBe(75);
    clock.advance(69);
    expect(slowdown.nextDelayMs()).toBe(6);
    clock.advance(1);
    expect(slowdown.nextDelayMs()).toBe(5);
    clock.advance(10_000);
    expect(slowdown.nextDelayMs()).toBe(5);
  });

  it('a stall adds to a jittered profile', () => {
    const clock = manualClock();
    const stalled = new SinkSlowdown(0, 1, clock.now);
    const plain = new SinkSlowdown(0, 1, clock.now);
    stalled.set({ delay_ms: 20, jitter_ms: 10 }, 77);
    plain.set({ delay_ms: 20, jitter_ms: 10 }, 77);
    stalled.stall(500);
    clock.advance(200);
    const withStall = delays(stalled, 5);
    const without = delays(plain, 5);
    withStall.forEach((d, i) => expect(d).toBeCloseTo(without[i]! + 300, 9));
  });

  it('overlapping stalls keep the later end', () => {
    const clock = manualClock();
    const slowdown = new SinkSlowdown(0, 1, clock.now);
    slowdown.stall(100); // ends at +100
    clock.advance(50);
    slowdown.stall(20); // would end at +70: the earlier-started, later-ending stall wins
    expect(slowdown.nextDelayMs()).toBe(50);
    slowdown.stall(200); // ends at +250
    expect(slowdown.nextDelayMs()).toBe(200);
    clock.advance(150);
    expect(slowdown.nextDelayMs()).toBe(50);
    clock.advance(50);
    expect(slowdown.nextDelayMs()).toBe(0);
  });

  it('a new stall after one expired starts from now', () => {
    const clock = manualClock();
    const slowdown = new SinkSlowdown(1, 1, clock.now);
    slowdown.stall(10);
    clock.advance(1000);
    expect(slowdown.nextDelayMs()).toBe(1);
    slowdown.stall(10);
    expect(slowdown.nextDelayMs()).toBe(11);
  });

  it('set() does not cancel a running stall', () => {
    const clock = manualClock();
    const slowdown = new SinkSlowdown(2, 1, clock.now);
    slowdown.stall(100);
    slowdown.set({ delay_ms: 10, jitter_ms: 0 }, 1);
    expect(slowdown.nextDelayMs()).toBe(110);
    slowdown.set(undefined);
    expect(slowdown.nextDelayMs()).toBe(102);
  });

  it('uses Date.now by default', () => {
    const slowdown = new SinkSlowdown(0, 1);
    slowdown.stall(60_000);
    const d = slowdown.nextDelayMs();
    expect(d).toBeGreaterThan(59_000);
    expect(d).toBeLessThanOrEqual(60_000);
  });

  it('fails a seeded share of commits once error_rate is set, and none without it', () => {
    const slowdown = new SinkSlowdown(0, 1);
    for (let i = 0; i < 1_000; i++) expect(slowdown.nextFails()).toBe(false);
    slowdown.set({ delay_ms: 0, jitter_ms: 0, error_rate: 0.25 }, 7);
    let failed = 0;
    for (let i = 0; i < 4_000; i++) failed += slowdown.nextFails() ? 1 : 0;
    expect(failed).toBe(slowdown.injected_errors);
    expect(failed).toBeGreaterThan(850);
    expect(failed).toBeLessThan(1_150);
    const again = new SinkSlowdown(0, 1);
    again.set({ delay_ms: 0, jitter_ms: 0, error_rate: 0.25 }, 7);
    let replay = 0;
    for (let i = 0; i < 4_000; i++) replay += again.nextFails() ? 1 : 0;
    expect(replay).toBe(failed);
    slowdown.set(undefined);
    expect(slowdown.nextFails()).toBe(false);
  });
});
