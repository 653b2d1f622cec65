import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Rate } from '../../scenarios/schema.ts';
import { describeRate, meanRate, offsetOf, rateFrom, rateTo, Schedule } from './schedule.ts';

type PhaseInput = { name: string; duration_s: number; rate: Rate };

const START_US = 1_700_000_000_000_000;

/** Events of phase `index` due (intended time ≤ start + t) by `t_s` seconds into the phase. */
function dueBy(schedule: Schedule, index: number, t_s: number): number {
  const phase = schedule.phases[index]!;
  const deadline = phase.start_us + t_s * 1e6;
  let due = 0;
  for (let k = 0; k < phase.count; k++) if (schedule.intendedAt(phase.first + k) <= deadline) due++;
  return due;
}

/** N(t) = a·t + (b − a)·t²/(2D): expected events due by t in a ramp a → b over D seconds. */
function expectedDue(from: number, to: number, duration_s: number, t_s: number): number {
  return from * t_s + ((to - from) * t_s * t_s) / (2 * duration_s);
}

describe('rate helpers', () => {
  it('reads constant and ramping rates', () => {
    expect(rateFrom(250)).toBe(250);
    expect(rateTo(250)).toBe(250);
    expect(meanRate(250)).toBe(250);
    expect(rateFrom({ from: 100, to: 300 })).toBe(100);
    expect(rateTo({ from: 100, to: 300 })).toBe(300);
    expect(meanRate({ from: 100, to: 300 })).toBe(200);
    expect(meanRate({ from: 500, to: 0 })).toBe(250);
    expect(describeRate(42)).toBe('42/s');
    expect(describeRate({ from: 1, to: 9 })).toBe('1→9/s');
  });
});

describe('Schedule: constant rate', () => {
  const phases: PhaseInput[] = [
    { name: 'warmup', duration_s: 10, rate: 100 },
    { name: 'steady', duration_s: 7.5, rate: 200 },
    { name: 'odd', duration_s: 1.3, rate: 3 },
    { name: 'half', duration_s: 2.5, rate: 3 },
  ];
  const schedule = new Schedule(phases, START_US, 4);

  it('schedules round(rate × duration) events per phase, numbered consecutively', () => {
    expect(schedule.phases.map((p) => p.count)).toEqual([1000, 1500, 4, 8]);
    expect(schedule.phases.map((p) => p.first)).toEqual([0, 1000, 2500, 2504]);
    expect(schedule.total).toBe(2512);
    expect(schedule.phases.map((p) => p.name)).toEqual(['warmup', 'steady', 'odd', 'half']);
    expect(schedule.phases.map((p) => p.rate)).toEqual([100, 200, 3, 3]);
  });

  it('lays the phases back to back from the start time', () => {
    expect(schedule.start_us).toBe(START_US);
    expect(schedule.phases[0]!.start_us).toBe(START_US);
    for (let i = 1; i < schedule.phases.length; i++) {
      expect(schedule.phases[i]!.start_us).toBe(schedule.phases[i - 1]!.end_us);
    }
    phases.forEach((phase, i) => {
      const scheduled = schedule.phases[i]!;
      expect(scheduled.end_us - scheduled.start_us).toBeCloseTo(phase.duration_s * 1e6, 3);
    });
    expect(schedule.end_us).toBe(schedule.phases[schedule.phases.length - 1]!.end_us);
    expect(schedule.end_us - START_US).toBeCloseTo(21.3e6, 3);
  });

  it('puts event k of a phase at start + k/rate seconds', () => {
    schedule.phases.forEach((phase) => {
      const rate = phase.rate as number;
      for (let k = 0; k < phase.count; k++) {
        expect(schedule.intendedAt(phase.first + k)).toBe(Math.round(phase.start_us + (k / rate) * 1e6));
      }
    });
    // Concrete spot checks.
    expect(schedule.intendedAt(0)).toBe(START_US);
    expect(schedule.intendedAt(1)).toBe(START_US + 10_000);
    expect(schedule.intendedAt(999)).toBe(START_US + 9_990_000);
    expect(schedule.intendedAt(1000)).toBe(START_US + 10_000_000);
    expect(schedule.intendedAt(1001)).toBe(START_US + 10_005_000);
    expect(schedule.intendedAt(2501)).toBe(START_US + 17_500_000 + 333_333);
  });

  it('spaces the events of a constant phase evenly', () => {
    const warmup = schedule.phases[0]!;
    for (let g = warmup.first + 1; g < warmup.first + warmup.count; g++) {
      expect(schedule.intendedAt(g) - schedule.intendedAt(g - 1)).toBe(10_000);
    }
    const steady = schedule.phases[1]!;
    for (let g = steady.first + 1; g < steady.first + steady.count; g++) {
      expect(schedule.intendedAt(g) - schedule.intendedAt(g - 1)).toBe(5_000);
    }
    const odd = schedule.phases[2]!;
    for (let g = odd.first + 1; g < odd.first + odd.count; g++) {
      const gap = schedule.intendedAt(g) - schedule.intendedAt(g - 1);
      expect(gap === 333_333 || gap === 333_334).toBe(true);
    }
  });

  it('starts every phase with an event at its start time and ends every event before its end', () => {
    schedule.phases.forEach((phase, i) => {
      expect(schedule.intendedAt(phase.first)).toBe(phase.start_us);
      expect(schedule.intendedAt(phase.first, i)).toBe(phase.start_us);
      const last = schedule.intendedAt(phase.first + phase.count - 1);
      expect(last).toBeLessThan(phase.end_us);
    });
  });

  it('a ramp from r to r is the same schedule as a constant r', () => {
    const constant = new Schedule([{ name: 'c', duration_s: 3, rate: 70 }], START_US, 1);
    const ramp = new Schedule([{ name: 'r', duration_s: 3, rate: { from: 70, to: 70 } }], START_US, 1);
    expect(ramp.total).toBe(constant.total);
    for (let g = 0; g < constant.total; g++) expect(ramp.intendedAt(g)).toBe(constant.intendedAt(g));
  });

  it('schedules no events for a zero-rate phase but keeps its time', () => {
    const s = new Schedule(
      [
        { name: 'a', duration_s: 1, rate: 10 },
        { name: 'pause', duration_s: 2, rate: 0 },
        { name: 'b', duration_s: 1, rate: 10 },
      ],
      0,
      1,
    );
    expect(s.phases.map((p) => p.count)).toEqual([10, 0, 10]);
    expect(s.phases[2]!.start_us).toBe(3_000_000);
    expect(s.intendedAt(10)).toBe(3_000_000);
    expect(s.total).toBe(20);
    expect(s.end_us).toBe(4_000_000);
  });

  it('handles an empty phase list', () => {
    const s = new Schedule([], START_US, 3);
    expect(s.phases).toEqual([]);
    expect(s.total).toBe(0);
    expect(s.end_us).toBe(START_US);
  });
});

describe('Schedule: ramps', () => {
  const cases: Array<{ label: string; from: number; to: number; duration_s: number; count: number }> = [
    { label: 'ascending 100 → 300 over 10 s', from: 100, to: 300, duration_s: 10, count: 2000 },
    { label: 'from 0 → 1000 over 4 s', from: 0, to: 1000, duration_s: 4, count: 2000 },
    { label: 'descending 500 → 50 over 6 s', from: 500, to: 50, duration_s: 6, count: 1650 },
    { label: 'descending to 0, 400 → 0 over 5 s', from: 400, to: 0, duration_s: 5, count: 1000 },
    { label: 'odd mean, 7 → 20 over 3.3 s', from: 7, to: 20, duration_s: 3.3, count: Math.round(13.5 * 3.3) },
  ];

  for (const c of cases) {
    describe(c.label, () => {
      const schedule = new Schedule(
        [
          { name: 'before', duration_s: 2, rate: 50 },
          { name: 'ramp', duration_s: c.duration_s, rate: { from: c.from, to: c.to } },
        ],
        START_US,
        3,
      );
      const ramp = schedule.phases[1]!;

      it('schedules round(mean × duration) events', () => {
        expect(ramp.count).toBe(c.count);
        expect(ramp.first).toBe(100);
        expect(schedule.total).toBe(100 + c.count);
      });

      it('has N(t) events due by t, within ±1', () => {
        const ts = [0.001, 0.1, 0.25, 0.5, 0.33, 0.75, 0.9, 0.999].map((f) => f * c.duration_s);
        for (const t of ts) {
          const due = dueBy(schedule, 1, t);
          const expected = expectedDue(c.from, c.to, c.duration_s, t);
          expect(Math.abs(due - expected), `t=${t}: due ${due}, N(t) ${expected}`).toBeLessThanOrEqual(1);
        }
        // By the end of the phase every event is due.
        expect(dueBy(schedule, 1, c.duration_s)).toBe(c.count);
        expect(Math.abs(c.count - expectedDue(c.from, c.to, c.duration_s, c.duration_s))).toBeLessThanOrEqual(0.5);
      });

      it('keeps offsets non-decreasing and within [0, duration]', () => {
        let previous = -Infinity;
        for (let k = 0; k < ramp.count; k++) {
          const offset = offsetOf(k, c.from, c.to, c.duration_s);
          expect(Number.isFinite(offset)).toBe(true);
          expect(offset).toBeGreaterThanOrEqual(0);
          expect(offset).toBeLessThanOrEqual(c.duration_s);
          expect(offset).toBeGreaterThanOrEqual(previous);
          previous = offset;

          const at = schedule.intendedAt(ramp.first + k);
          expect(at).toBeGreaterThanOrEqual(ramp.start_us);
          expect(at).toBeLessThanOrEqual(ramp.end_us);
        }
      });

      it('inverts N: N(offsetOf(k)) = k', () => {
        for (const k of [1, 2, 10, Math.floor(c.count / 2), c.count - 1]) {
          const offset = offsetOf(k, c.from, c.to, c.duration_s);
          expect(expectedDue(c.from, c.to, c.duration_s, offset)).toBeCloseTo(k, 6);
        }
      });
    });
  }

  it('packs an ascending ramp late and a descending ramp early', () => {
    const up = new Schedule([{ name: 'up', duration_s: 10, rate: { from: 0, to: 200 } }], 0, 1);
    const down = new Schedule([{ name: 'down', duration_s: 10, rate: { from: 200, to: 0 } }], 0, 1);
    // N(5) = 250 for the ascending ramp and 750 for the descending one (of 1000).
    expect(dueBy(up, 0, 5)).toBeGreaterThanOrEqual(249);
    expect(dueBy(up, 0, 5)).toBeLessThanOrEqual(251);
    expect(dueBy(down, 0, 5)).toBeGreaterThanOrEqual(749);
    expect(dueBy(down, 0, 5)).toBeLessThanOrEqual(751);
  });

  it('offsetOf(0) and negative k are 0', () => {
    expect(offsetOf(0, 100, 300, 10)).toBe(0);
    expect(offsetOf(-3, 100, 300, 10)).toBe(0);
    expect(offsetOf(0, 0, 100, 10)).toBe(0);
  });
});

describe('Schedule: (publisher, seq) ↔ global index', () => {
  for (const publishers of [1, 2, 3, 7, 16]) {
    it(`is a bijection for ${publishers} publisher(s)`, () => {
      const schedule = new Schedule([{ name: 'p', duration_s: 1, rate: 10 }], 0, publishers);
      const seen = new Set<string>();
      for (let g = 0; g < 500; g++) {
        const publisher = schedule.publisherOf(g);
        const seq = schedule.seqOf(g);
        expect(Number.isInteger(publisher)).toBe(true);
        expect(publisher).toBeGreaterThanOrEqual(0);
        expect(publisher).toBeLessThan(publishers);
        expect(seq).toBeGreaterThanOrEqual(0);
        expect(schedule.globalOf(publisher, seq)).toBe(g);
        const key = `${publisher}:${seq}`;
        expect(seen.has(key)).toBe(false);
        seen.add(key);
      }
      for (let publisher = 0; publisher < publishers; publisher++) {
        for (let seq = 0; seq < 40; seq++) {
          const g = schedule.globalOf(publisher, seq);
          expect(schedule.publisherOf(g)).toBe(publisher);
          expect(schedule.seqOf(g)).toBe(seq);
        }
      }
    });
  }

  it('numbers each publisher’s events 0, 1, 2, … in global order', () => {
    const schedule = new Schedule([{ name: 'p', duration_s: 1, rate: 10 }], 0, 3);
    expect([0, 1, 2, 3, 4, 5, 6].map((g) => schedule.publisherOf(g))).toEqual([0, 1, 2, 0, 1, 2, 0]);
    expect([0, 1, 2, 3, 4, 5, 6].map((g) => schedule.seqOf(g))).toEqual([0, 0, 0, 1, 1, 1, 2]);
    expect(schedule.globalOf(2, 5)).toBe(17);
  });

  it('round-trips for arbitrary publisher counts and indices', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.nat({ max: 1e9 }), (publishers, g) => {
        const schedule = new Schedule([], 0, publishers);
        expect(schedule.globalOf(schedule.publisherOf(g), schedule.seqOf(g))).toBe(g);
      }),
    );
  });
});

describe('Schedule.phaseOf', () => {
  it('switches phase exactly at each phase’s first event', () => {
    const schedule = new Schedule(
      [
        { name: 'a', duration_s: 1, rate: 10 },
        { name: 'b', duration_s: 2, rate: 10 },
        { name: 'c', duration_s: 1, rate: 5 },
      ],
      START_US,
      2,
    );
    expect(schedule.phases.map((p) => p.first)).toEqual([0, 10, 30]);
    const cases: Array<[number, number]> = [
      [0, 0], [9, 0], [10, 1], [11, 1], [29, 1], [30, 2], [34, 2],
    ];
    for (const [g, phase] of cases) expect(schedule.phaseOf(g), `g=${g}`).toBe(phase);
    // The boundary events are at the phase starts.
    expect(schedule.intendedAt(9)).toBe(START_US + 900_000);
    expect(schedule.intendedAt(10)).toBe(START_US + 1_000_000);
    expect(schedule.intendedAt(29)).toBe(START_US + 2_900_000);
    expect(schedule.intendedAt(30)).toBe(START_US + 3_000_000);
  });

  it('skips phases that schedule no events', () => {
    const schedule = new Schedule(
      [
        { name: 'a', duration_s: 1, rate: 10 },
        { name: 'empty', duration_s: 1, rate: 0 },
        { name: 'c', duration_s: 1, rate: 10 },
      ],
      0,
      1,
    );
    expect(schedule.phaseOf(9)).toBe(0);
    expect(schedule.phaseOf(10)).toBe(2);
    expect(schedule.intendedAt(10)).toBe(2_000_000);
  });
});

describe('Schedule: properties', () => {
  const rateArb: fc.Arbitrary<Rate> = fc.oneof(
    fc.integer({ min: 0, max: 200 }),
    fc.record({ from: fc.integer({ min: 0, max: 200 }), to: fc.integer({ min: 0, max: 200 }) }),
  );
  const phasesArb = fc.array(
    fc.record({
      name: fc.constantFrom('a', 'b', 'c'),
      duration_s: fc.integer({ min: 1, max: 200 }).map((tenths) => tenths / 10),
      rate: rateArb,
    }),
    { minLength: 1, maxLength: 5 },
  );

  it('intended times are non-decreasing across phases and inside their phase', () => {
    fc.assert(
      fc.property(phasesArb, fc.integer({ min: 0, max: 2 ** 50 }), fc.integer({ min: 1, max: 8 }), (phases, start, publishers) => {
        const schedule = new Schedule(phases, start, publishers);
        expect(schedule.total).toBe(schedule.phases.reduce((sum, p) => sum + p.count, 0));
        let previous = -Infinity;
        schedule.phases.forEach((phase, i) => {
          expect(phase.count).toBe(Math.round(meanRate(phases[i]!.rate) * phases[i]!.duration_s));
          // Plain comparisons in the hot loop (expect() per event is slow); report the first failure.
          for (let g = phase.first; g < phase.first + phase.count; g++) {
            const at = schedule.intendedAt(g);
            const ok =
              Number.isFinite(at) &&
              at >= previous &&
              at >= Math.round(phase.start_us) &&
              at <= Math.round(phase.end_us) &&
              schedule.intendedAt(g, i) === at;
            if (!ok) expect.fail(`g=${g} (phase ${i}): intendedAt ${at}, previous ${previous}, phase [${phase.start_us}, ${phase.end_us}]`);
            previous = at;
          }
        });
      }),
      { numRuns: 150 },
    );
  });

  it('a ramp has N(t) events due by any t, within ±1', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 300 }),
        fc.integer({ min: 0, max: 300 }),
        fc.integer({ min: 5, max: 100 }).map((tenths) => tenths / 10),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (from, to, duration_s, fraction) => {
          const schedule = new Schedule([{ name: 'r', duration_s, rate: { from, to } }], 0, 1);
          const t = fraction * duration_s;
          const due = dueBy(schedule, 0, t);
          const expected = Math.min(expectedDue(from, to, duration_s, t), schedule.total);
          // The schedule rounds the count, so at t = D it may be off N(D) by up to 0.5 more.
          expect(Math.abs(due - expected)).toBeLessThanOrEqual(1);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('Schedule.firstDueFrom', () => {
  it('is the first event of the phase due at or after t: what a generator too far behind skips to', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.integer({ min: 0, max: 400 }), fc.record({ from: fc.integer({ min: 0, max: 400 }), to: fc.integer({ min: 0, max: 400 }) })),
        fc.integer({ min: 1, max: 50 }).map((tenths) => tenths / 10),
        fc.double({ min: -0.2, max: 1.2, noNaN: true }),
        (rate, duration_s, fraction) => {
          const schedule = new Schedule([{ name: 'before', duration_s: 1, rate: 10 }, { name: 'p', duration_s, rate }], START_US, 3);
          const phase = schedule.phases[1]!;
          const t_us = Math.round(phase.start_us + fraction * duration_s * 1e6);
          let expected = phase.first + phase.count;
          for (let g = phase.first; g < phase.first + phase.count; g++) {
            if (schedule.intendedAt(g, 1) >= t_us) {
              expected = g;
              break;
            }
          }
          expect(schedule.firstDueFrom(t_us, 1)).toBe(expected);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('lands exactly on an event due at t, and past the end of the phase gives one past its last event', () => {
    const schedule = new Schedule([{ name: 'p', duration_s: 2, rate: 1000 }], START_US, 4);
    expect(schedule.firstDueFrom(schedule.intendedAt(700), 0)).toBe(700);
    expect(schedule.firstDueFrom(schedule.intendedAt(700) + 1, 0)).toBe(701);
    expect(schedule.firstDueFrom(START_US - 5, 0)).toBe(0);
    expect(schedule.firstDueFrom(START_US + 3e6, 0)).toBe(2000);
  });
});
