import { describe, expect, it } from 'vitest';
import type { LedgerSecond } from '../ledger/index.ts';
import type { TimelineSample } from './backlog.ts';
import {
  RECOVERY_BACKLOG_SLACK_S,
  RECOVERY_P99_FACTOR,
  RECOVERY_P99_SLACK_MS,
  RECOVERY_STREAK_S,
  recoveries,
  type RecoveryPhase,
} from './recovery.ts';

/** Per-second data: entry k describes second k (null p99: no commits that second, no LedgerSecond). */
interface Series {
  p99: readonly (number | null)[];
  /** Backlog of second k; omitted: no timeline at all. */
  backlog?: readonly number[];
  /** consumed_per_s of every sample (sets the backlog slack); default 0. */
  consumed?: number;
  /** Offset added to every sample's t_s (sampling jitter); default 0. */
  jitter?: number;
}

function perSecondOf(p99: readonly (number | null)[]): LedgerSecond[] {
  const seconds: LedgerSecond[] = [];
  p99.forEach((value, k) => {
    if (value === null) return;
    seconds.push({ t_s: k, committed: 100, p50_ms: value / 2, p99_ms: value, max_ms: value * 1.5 });
  });
  return seconds;
}

/** The sample taken at about t = k + 1 describes second k (as recovery.ts maps it). */
function timelineOf(backlog: readonly number[], consumed = 0, jitter = 0): TimelineSample[] {
  return backlog.map((value, k) => ({
    t_s: k + 1 + jitter,
    phase: 'any',
    published: 0,
    broker_acked: 0,
    subscriber_acked: 0,
    backlog: value,
    offered_per_s: consumed,
    consumed_per_s: consumed,
    pending: 0,
    retries: 0,
    redelivered: 0,
  }));
}

function run(phases: readonly RecoveryPhase[], series: Series, residual?: number, fallbackOnly?: ReadonlySet<string>) {
  const perSecond = perSecondOf(series.p99);
  const timeline = series.backlog ? timelineOf(series.backlog, series.consumed ?? 0, series.jitter ?? 0) : [];
  return recoveries(phases, perSecond, timeline, residual, fallbackOnly);
}

const repeat = <T>(value: T, n: number): T[] => Array.from({ length: n }, () => value);

const phase = (name: string, start_s: number, end_s: number, has_faults: boolean): RecoveryPhase => ({
  name,
  start_s,
  end_s,
  has_faults,
});

/** steady [0,10) → kill [10,20) → calm [20,40): baseline seconds are 1..9, recovery searched from 20. */
const STANDARD = [phase('steady', 0, 10, false), phase('kill', 10, 20, true), phase('calm', 20, 40, false)];
const BASE_P99 = 10;
/** Baseline all at 10 ms: limit = max(2 × 10, 10) + 5 = 25 ms. */
const LIMIT = BASE_P99 * RECOVERY_P99_FACTOR + RECOVERY_P99_SLACK_MS;
const BASE_BACKLOG = 5;

/** 40 seconds: baseline at BASE_P99 / BASE_BACKLOG, fault seconds at 200 ms / `faultBacklog`, then `after` from second 20 on. */
function standard(after: { p99: readonly (number | null)[]; backlog?: readonly number[] }, faultBacklog: readonly number[] = repeat(300, 10)) {
  const calmP99 = [...after.p99, ...repeat(BASE_P99, 20 - after.p99.length)];
  const calmBacklog = [...(after.backlog ?? []), ...repeat(BASE_BACKLOG, 20 - (after.backlog?.length ?? 0))];
  return {
    p99: [...repeat(BASE_P99, 10), ...repeat(200, 10), ...calmP99.slice(0, 20)],
    backlog: [...repeat(BASE_BACKLOG, 10), ...faultBacklog, ...calmBacklog.slice(0, 20)],
  };
}

describe('recoveries: fault then calm', () => {
  it('sanity: constants as documented', () => {
    expect(RECOVERY_STREAK_S).toBe(3);
    expect(LIMIT).toBe(25);
  });

  it('recovery_s = seconds from the fault end to the first of 3 consecutive in-band seconds', () => {
    // Seconds 20..23 still slow, in band from 24.
    const series = standard({ p99: [80, 60, 40, 30], backlog: [250, 120, 40, 6] });
    const [r, ...rest] = run(STANDARD, series);
    expect(rest).toEqual([]);
    expect(r).toEqual({
      phase: 'kill',
      baseline_phase: 'steady',
      baseline_p99_ms: BASE_P99,
      baseline_backlog: BASE_BACKLOG,
      recovery_s: 4,
      backlog_peak: 300,
      p99_peak_ms: 200,
    });
  });

  it('in band from the fault end itself: recovery_s 0', () => {
    const [r] = run(STANDARD, standard({ p99: [] }));
    expect(r!.recovery_s).toBe(0);
  });

  it('peaks cover the fault start until recovery, not the baseline before nor what comes after', () => {
    const series = standard({ p99: [90, 50], backlog: [700, 50] }, [20, 40, 80, 160, 320, 400, 410, 420, 430, 440]);
    series.p99[20 + 10] = 999; // a spike well after recovery
    series.backlog[20 + 10] = 9999;
    series.p99[0] = 5000; // second 0 of the baseline: outside the span (and outside the baseline window)
    series.backlog[0] = 8888;
    series.p99[15] = 250; // worst second of the fault
    const [r] = run(STANDARD, series);
    expect(r!.recovery_s).toBe(2);
    expect(r!.backlog_peak).toBe(700);
    expect(r!.p99_peak_ms).toBe(250);
  });

  it('never back in band: recovery_s null, peaks over the whole rest of the run', () => {
    const series = standard({ p99: repeat(30, 20), backlog: repeat(5, 20) });
    series.p99[35] = 444;
    series.backlog[38] = 555;
    const [r] = run(STANDARD, series);
    expect(r!.recovery_s).toBeNull();
    expect(r!.p99_peak_ms).toBe(444);
    expect(r!.backlog_peak).toBe(555);
  });

  it('a streak cut short by the end of the run does not count', () => {
    // In band only in the last 2 observed seconds (20 seconds after the fault: 38, 39).
    const series = standard({ p99: [...repeat(30, 18), 10, 10] });
    expect(run(STANDARD, series)[0]!.recovery_s).toBeNull();
    // …and in the last 3: recovered at 37.
    const three = standard({ p99: [...repeat(30, 17), 10, 10, 10] });
    expect(run(STANDARD, three)[0]!.recovery_s).toBe(17);
  });

  it('2 in-band seconds, a spike, then 3 in-band: recovery at the later streak', () => {
    const series = standard({ p99: [10, 10, 300, 10, 10, 10, 300] });
    const [r] = run(STANDARD, series);
    expect(r!.recovery_s).toBe(3);
    // The spike at second 22 is inside the span until recovery; the one at 26 is after it.
    expect(r!.p99_peak_ms).toBe(300);
    const later = standard({ p99: [10, 10, 150, 10, 10, 10, 300] });
    expect(run(STANDARD, later)[0]!.p99_peak_ms).toBe(200);
  });

  it('a backlog spike breaks a streak the same way', () => {
    const series = standard({ p99: [], backlog: [5, 5, 6, 5, 5, 5] });
    expect(run(STANDARD, series)[0]!.recovery_s).toBe(3);
  });

  it('a second without commits (no LedgerSecond) is not in band', () => {
    const series = standard({ p99: [10, null, 10, 10, 10] });
    expect(run(STANDARD, series)[0]!.recovery_s).toBe(2);
  });
});

describe('recoveries: backlog', () => {
  it('p99 in band but backlog above the limit delays recovery', () => {
    // p99 back at baseline from second 20, backlog draining until second 25.
    const series = standard({ p99: [], backlog: [200, 150, 100, 50, 10, 6, 5] });
    const [r] = run(STANDARD, series);
    expect(r!.recovery_s).toBe(6);
    expect(r!.backlog_peak).toBe(300);
  });

  it('the timeline sample at t = k + 1 describes second k', () => {
    const base = standard({ p99: [] });
    // Sample at t = 20 (second 19, inside the fault) high: no effect on recovery.
    const inFault = { ...base, backlog: [...base.backlog] };
    inFault.backlog[19] = 1000;
    expect(run(STANDARD, inFault)[0]!.recovery_s).toBe(0);
    expect(timelineOf(inFault.backlog).find((s) => s.backlog === 1000)!.t_s).toBe(20);
    // Sample at t = 21 (second 20) high: recovery one second later.
    const atEnd = { ...base, backlog: [...base.backlog] };
    atEnd.backlog[20] = 1000;
    expect(run(STANDARD, atEnd)[0]!.recovery_s).toBe(1);
    // Sampling jitter of a few hundred ms maps to the same seconds.
    expect(run(STANDARD, { ...atEnd, jitter: 0.3 })[0]!.recovery_s).toBe(1);
    expect(run(STANDARD, { ...atEnd, jitter: -0.3 })[0]!.recovery_s).toBe(1);
  });

  it('a permanent backlog offset: null without residualBacklog, recovers with it equal to the offset', () => {
    const LOST = 37;
    const calmBacklog = [90, 60, ...repeat(BASE_BACKLOG + LOST, 18)];
    const series = standard({ p99: [60, 10], backlog: calmBacklog });
    const without = run(STANDARD, series);
    expect(without[0]!.recovery_s).toBeNull();
    expect(run(STANDARD, series, 0)[0]!.recovery_s).toBeNull();
    const withResidual = run(STANDARD, series, LOST);
    expect(withResidual[0]!.recovery_s).toBe(2);
    // The residue does not move the reported baseline.
    expect(withResidual[0]!.baseline_backlog).toBe(BASE_BACKLOG);
    // One message short of the residue is still above the band.
    expect(run(STANDARD, series, LOST - 1)[0]!.recovery_s).toBeNull();
  });

  it('backlog band: baseline max + 0.1 s of median consumption, right at and just above', () => {
    const consumed = 100; // slack = 0.1 × 100 = 10 messages
    const slack = RECOVERY_BACKLOG_SLACK_S * consumed;
    expect(slack).toBe(10);
    const baseline = [...repeat(5, 9), 8]; // max over seconds 1..9 = 8 (second 9)
    const at = standard({ p99: [], backlog: repeat(8 + slack, 20) });
    at.backlog.splice(0, 10, ...baseline);
    const r = run(STANDARD, { ...at, consumed })[0]!;
    expect(r.baseline_backlog).toBe(8);
    expect(r.recovery_s).toBe(0);
    const above = standard({ p99: [], backlog: repeat(8 + slack + 0.5, 20) });
    above.backlog.splice(0, 10, ...baseline);
    expect(run(STANDARD, { ...above, consumed })[0]!.recovery_s).toBeNull();
  });

  it('no timeline at all: p99 alone decides', () => {
    const series = standard({ p99: [40, 10, 10, 10] });
    const r = run(STANDARD, { p99: series.p99 })[0]!;
    expect(r.recovery_s).toBe(1);
    expect(r.baseline_backlog).toBe(0);
    expect(r.backlog_peak).toBe(0);
  });
});

describe('recoveries: p99 band', () => {
  it('limit = 2 × median baseline p99 + 5 ms: at the limit is in band, just above is not', () => {
    expect(run(STANDARD, standard({ p99: repeat(LIMIT, 20) }))[0]!.recovery_s).toBe(0);
    expect(run(STANDARD, standard({ p99: repeat(LIMIT + 0.001, 20) }))[0]!.recovery_s).toBeNull();
    expect(run(STANDARD, standard({ p99: [LIMIT + 0.001, LIMIT, LIMIT, LIMIT] }))[0]!.recovery_s).toBe(1);
  });

  it('the worst baseline second wins when it is above 2 × median', () => {
    const series = standard({ p99: repeat(45, 20) });
    series.p99[4] = 40; // baseline 1..9: eight at 10, one at 40 → median 10, limit max(20, 40) + 5 = 45
    const r = run(STANDARD, series)[0]!;
    expect(r.baseline_p99_ms).toBe(10);
    expect(r.recovery_s).toBe(0);
    series.p99.splice(20, 20, ...repeat(45.01, 20));
    expect(run(STANDARD, series)[0]!.recovery_s).toBeNull();
  });

  it('2 × median wins when the worst second is below it; median of an even count is the mean of the middle two', () => {
    // Baseline [0, 9): seconds 1..8 → four at 10, four at 20 → median 15, worst 20 → limit 35.
    const phases = [phase('steady', 0, 9, false), phase('kill', 9, 20, true), phase('calm', 20, 40, false)];
    const p99 = [999, 10, 10, 10, 10, 20, 20, 20, 20, ...repeat(200, 11), ...repeat(35, 20)];
    const r = run(phases, { p99 })[0]!;
    expect(r.baseline_p99_ms).toBe(15);
    expect(r.recovery_s).toBe(0);
    p99.splice(20, 20, ...repeat(35.001, 20));
    expect(run(phases, { p99 })[0]!.recovery_s).toBeNull();
  });

  it("the baseline's first second and anything after its end are left out", () => {
    const series = standard({ p99: repeat(LIMIT, 20) });
    series.p99[0] = 5000; // second 0: the first second of the baseline (still ramping up)
    const r = run(STANDARD, series)[0]!;
    expect(r.baseline_p99_ms).toBe(BASE_P99);
    expect(r.recovery_s).toBe(0);
  });
});

describe('recoveries: baseline choice', () => {
  const flat = (n: number, p99 = 10) => repeat(p99, n);

  it('nearest earlier fault-free phase that is not warm-up', () => {
    const phases = [
      phase('warmup', 0, 10, false),
      phase('steady_a', 10, 20, false),
      phase('steady_b', 20, 30, false),
      phase('kill', 30, 35, true),
      phase('calm', 35, 50, false),
    ];
    const p99 = [...flat(10, 100), ...flat(10, 10), ...flat(10, 20), ...flat(5, 500), ...flat(15, 20)];
    const [r, ...rest] = run(phases, { p99 });
    expect(rest).toEqual([]);
    expect(r!.phase).toBe('kill');
    expect(r!.baseline_phase).toBe('steady_b');
    expect(r!.baseline_p99_ms).toBe(20);
  });

  it("a measured phase before warm-up is preferred to the nearer warm-up", () => {
    const phases = [phase('steady', 0, 10, false), phase('warmup', 10, 20, false), phase('kill', 20, 25, true)];
    const p99 = [...flat(10, 10), ...flat(10, 100), ...flat(10, 10)];
    const [r] = run(phases, { p99 });
    expect(r!.baseline_phase).toBe('steady');
    expect(r!.baseline_p99_ms).toBe(10);
  });

  it("warm-up only when it is the only fault-free phase before", () => {
    const phases = [phase('warmup', 0, 10, false), phase('kill', 10, 20, true), phase('calm', 20, 30, false)];
    const p99 = [...flat(10, 10), ...flat(10, 200), 30, ...flat(9, 10)];
    const [r] = run(phases, { p99 });
    expect(r!.baseline_phase).toBe('warmup');
    expect(r!.recovery_s).toBe(1);
  });

  it('fallbackOnly is configurable', () => {
    const phases = [phase('prime', 0, 10, false), phase('steady', 10, 20, false), phase('kill', 20, 25, true)];
    const p99 = [...flat(10, 10), ...flat(10, 30), ...flat(10, 10)];
    expect(run(phases, { p99 })[0]!.baseline_phase).toBe('steady');
    expect(run(phases, { p99 }, 0, new Set(['steady']))[0]!.baseline_phase).toBe('prime');
    // Every fault-free phase fallback-only: the nearest one.
    expect(run(phases, { p99 }, 0, new Set(['steady', 'prime']))[0]!.baseline_phase).toBe('steady');
  });

  it('no fault-free phase before: no entry for that phase', () => {
    const phases = [phase('kill', 0, 10, true), phase('calm', 10, 20, false), phase('kill2', 20, 25, true)];
    const p99 = [...flat(10, 200), ...flat(10, 10), ...flat(5, 200), ...flat(5, 10)];
    const out = run(phases, { p99 });
    expect(out.map((r) => [r.phase, r.baseline_phase])).toEqual([['kill2', 'calm']]);
  });

  it('phases without faults produce no entry; consecutive fault phases share the baseline before them', () => {
    const phases = [
      phase('warmup', 0, 5, false),
      phase('steady', 5, 15, false),
      phase('kill', 15, 20, true),
      phase('partition', 20, 25, true),
      phase('calm', 25, 40, false),
    ];
    const p99 = [...flat(15, 10), ...flat(10, 200), ...flat(15, 10)];
    const out = run(phases, { p99 });
    expect(out.map((r) => r.phase)).toEqual(['kill', 'partition']);
    expect(out.map((r) => r.baseline_phase)).toEqual(['steady', 'steady']);
    // kill ends at 20 but the system is only back at 25 (after partition).
    expect(out.map((r) => r.recovery_s)).toEqual([5, 0]);
    expect(run(phases.filter((p) => !p.has_faults), { p99 })).toEqual([]);
    expect(recoveries([], perSecondOf(p99), [])).toEqual([]);
  });

  it('a baseline too short to have a second in its window gives no entry (no fallback to an earlier phase)', () => {
    // steady [5, 6): window is t >= 6 && t < 6 — empty. Warm-up is not consulted.
    const phases = [phase('warmup', 0, 5, false), phase('steady', 5, 6, false), phase('kill', 6, 10, true)];
    const p99 = [...flat(6, 10), ...flat(4, 200), ...flat(10, 10)];
    expect(run(phases, { p99 })).toEqual([]);
  });
});

describe('recoveries: never negative', () => {
  it('fault ending mid-second (end 19.6): search starts at second 19; in band there → 0, not −0.6', () => {
    const phases = [phase('steady', 0, 10, false), phase('kill', 10, 19.6, true), phase('calm', 19.6, 40, false)];
    const p99 = [...repeat(10, 10), ...repeat(200, 9), ...repeat(10, 21)];
    const r = run(phases, { p99 })[0]!;
    expect(r.recovery_s).toBe(0);
    expect(r.recovery_s!).toBeGreaterThanOrEqual(0);
  });

  it('fault ending at 20.4: in band from second 20 → 0 (clamped); from second 21 → 0.6', () => {
    const phases = [phase('steady', 0, 10, false), phase('kill', 10, 20.4, true), phase('calm', 20.4, 40, false)];
    const fromTwenty = [...repeat(10, 10), ...repeat(200, 10), ...repeat(10, 20)];
    const r0 = run(phases, { p99: fromTwenty })[0]!;
    expect(r0.recovery_s).toBe(0);
    const fromTwentyOne = [...repeat(10, 10), ...repeat(200, 11), ...repeat(10, 19)];
    const r1 = run(phases, { p99: fromTwentyOne })[0]!;
    expect(r1.recovery_s).toBeCloseTo(0.6, 9);
    expect(r1.recovery_s!).toBeGreaterThanOrEqual(0);
  });

  it('a fault that never left the band: 0', () => {
    const r = run(STANDARD, { p99: repeat(10, 40), backlog: repeat(5, 40) })[0]!;
    expect(r.recovery_s).toBe(0);
    expect(r.p99_peak_ms).toBe(10);
    expect(r.backlog_peak).toBe(5);
  });
});
