// The open-model schedule: the intended send time of every event of a run, as a pure function of
// the phases (constant or ramping arrival rate) and a start time. Global event g belongs to
// publisher g mod P with seq ⌊g / P⌋, so (source, seq) ↔ g is a bijection and the ledger, the
// workers and a replay all agree on when each event was due without storing it. No clocks here.

import type { Phase, Rate } from '../../scenarios/schema.ts';

export interface ScheduledPhase {
  name: string;
  /** First global event index of the phase, and how many events it schedules. */
  first: number;
  count: number;
  start_us: number;
  end_us: number;
  rate: Rate;
}

export function rateFrom(rate: Rate): number {
  return typeof rate === 'number' ? rate : rate.from;
}

export function rateTo(rate: Rate): number {
  return typeof rate === 'number' ? rate : rate.to;
}

/** Mean arrival rate of a phase, events/s. */
export function meanRate(rate: Rate): number {
  return (rateFrom(rate) + rateTo(rate)) / 2;
}

export function describeRate(rate: Rate): string {
  return typeof rate === 'number' ? `${rate}/s` : `${rate.from}→${rate.to}/s`;
}

/**
 * Offset (s) from the phase start of its k-th event. The count of events due by time t is
 * N(t) = a·t + (b − a)·t²/(2D); this is N⁻¹(k) in the form that stays exact when a = b and
 * when a ramp starts at 0 (no division by b − a).
 */
export function offsetOf(k: number, from: number, to: number, duration_s: number): number {
  if (k <= 0) return 0;
  const slope = (to - from) / duration_s;
  const root = Math.sqrt(Math.max(0, from * from + 2 * slope * k));
  return (2 * k) / (from + root);
}

export class Schedule {
  readonly phases: ScheduledPhase[];
  readonly total: number;
  readonly end_us: number;

  constructor(
    phases: readonly Pick<Phase, 'name' | 'duration_s' | 'rate'>[],
    readonly start_us: number,
    readonly publishers: number,
  ) {
    let first = 0;
    let at = start_us;
    this.phases = phases.map((phase) => {
      const count = Math.round(meanRate(phase.rate) * phase.duration_s);
      const scheduled: ScheduledPhase = { name: phase.name, first, count, start_us: at, end_us: at + phase.duration_s * 1e6, rate: phase.rate };
      first += count;
      at = scheduled.end_us;
      return scheduled;
    });
    this.total = first;
    this.end_us = at;
  }

  phaseOf(g: number): number {
    for (let i = this.phases.length - 1; i >= 0; i--) if (g >= this.phases[i]!.first) return i;
    return 0;
  }

  /** Intended send time (µs since the epoch) of global event g. */
  intendedAt(g: number, phaseIndex = this.phaseOf(g)): number {
    const phase = this.phases[phaseIndex]!;
    const duration_s = (phase.end_us - phase.start_us) / 1e6;
    const offset = offsetOf(g - phase.first, rateFrom(phase.rate), rateTo(phase.rate), duration_s);
    return Math.round(phase.start_us + offset * 1e6);
  }

  /**
   * The first global event of phase `phaseIndex` due at or after `t_us` (one past the phase's last
   * event when none is): how a generator too far behind skips what it drops without visiting each.
   */
  firstDueFrom(t_us: number, phaseIndex: number): number {
    const phase = this.phases[phaseIndex]!;
    const duration_s = (phase.end_us - phase.start_us) / 1e6;
    const t = (t_us - phase.start_us) / 1e6;
    if (t <= 0 || phase.count === 0) return phase.first;
    const from = rateFrom(phase.rate);
    // N(t), the count due before t (see offsetOf); the steps below correct its rounding exactly.
    let k = Math.min(phase.count, Math.max(0, Math.floor(from * t + ((rateTo(phase.rate) - from) * t * t) / (2 * duration_s))));
    while (k < phase.count && this.intendedAt(phase.first + k, phaseIndex) < t_us) k++;
    while (k > 0 && this.intendedAt(phase.first + k - 1, phaseIndex) >= t_us) k--;
    return phase.first + k;
  }

  publisherOf(g: number): number {
    return g % this.publishers;
  }

  seqOf(g: number): number {
    return Math.floor(g / this.publishers);
  }

  globalOf(publisher: number, seq: number): number {
    return seq * this.publishers + publisher;
  }
}
