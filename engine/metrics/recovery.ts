// Time to recover after a fault: from the end of a phase with faults until the system is back to
// what it was before — per-second p99 and backlog within a band of the last fault-free phase before
// it (a measured one if there is; warm-up only if nothing else), for RECOVERY_STREAK_S seconds in a
// row. Messages the broker acknowledged and then lost stay in the backlog for ever; the caller
// passes that residue so that it is not taken for a backlog still draining. Pure.

import type { LedgerSecond } from '../ledger/index.ts';
import type { TimelineSample } from './backlog.ts';

export interface RecoveryPhase {
  name: string;
  start_s: number;
  end_s: number;
  has_faults: boolean;
}

export interface Recovery {
  phase: string;
  /** The phase the recovery is measured against (the last one before without faults). */
  baseline_phase: string;
  baseline_p99_ms: number;
  baseline_backlog: number;
  /** Seconds from the fault phase's end until back within the band (0: never left it); null if not within the run. */
  recovery_s: number | null;
  /** Largest backlog seen from the fault phase's start until recovery (or the end). */
  backlog_peak: number;
  /** Worst per-second p99 over the same span. */
  p99_peak_ms: number;
}

/** Seconds in a row that must be within the band to call it recovered. */
export const RECOVERY_STREAK_S = 3;
/** p99 band: at most this multiple of the baseline's median per-second p99, or its worst second … */
export const RECOVERY_P99_FACTOR = 2;
/** … whichever is larger, plus this much (per-second p99 is noisy: fsyncs, GC, other work). */
export const RECOVERY_P99_SLACK_MS = 5;
/** Backlog band: the baseline's largest backlog plus this many seconds' worth of consumption. */
export const RECOVERY_BACKLOG_SLACK_S = 0.1;

export function recoveries(
  phases: readonly RecoveryPhase[],
  perSecond: readonly LedgerSecond[],
  timeline: readonly TimelineSample[],
  /** Backlog that never drained (acknowledged by the broker, then lost): not a backlog to wait for. */
  residualBacklog = 0,
  /** Phases used as a baseline only when no other fault-free phase comes before (warm-up). */
  fallbackOnly: ReadonlySet<string> = new Set(['warmup']),
  /**
   * The backlog the run settled at in its last sample. It can stay above the baseline for good: a
   * killed broker's acknowledged messages that died with it, or, when the subscriber counts its own
   * acks (an external broker), a crashed consumer's last acks that were never reported. A backlog
   * back at the level where it settles is not one still draining.
   */
  settledBacklog = 0,
): Recovery[] {
  const p99At = new Map(perSecond.map((s) => [s.t_s, s.p99_ms]));
  // A timeline sample taken at about t = k + 1 describes second k.
  const sampleAt = new Map<number, TimelineSample>();
  for (const sample of timeline) sampleAt.set(Math.round(sample.t_s) - 1, sample);
  const lastSecond = Math.max(-1, ...perSecond.map((s) => s.t_s), ...[...sampleAt.keys()]);

  const results: Recovery[] = [];
  phases.forEach((phase, i) => {
    if (!phase.has_faults) return;
    const before = phases.slice(0, i).reverse().filter((p) => !p.has_faults);
    const baseline = before.find((p) => !fallbackOnly.has(p.name)) ?? before[0];
    if (!baseline) return;
    const inBaseline = (t: number) => t >= Math.ceil(baseline.start_s) + 1 && t < Math.floor(baseline.end_s);
    const baseSeconds = perSecond.filter((s) => inBaseline(s.t_s));
    const baseSamples = [...sampleAt.entries()].filter(([t]) => inBaseline(t)).map(([, s]) => s);
    if (baseSeconds.length === 0) return;
    const baselineP99 = median(baseSeconds.map((s) => s.p99_ms));
    const baselineBacklog = Math.max(0, ...baseSamples.map((s) => s.backlog));
    const consumed = median(baseSamples.map((s) => s.consumed_per_s));
    const worstBaselineP99 = Math.max(...baseSeconds.map((s) => s.p99_ms));
    const p99Limit = Math.max(baselineP99 * RECOVERY_P99_FACTOR, worstBaselineP99) + RECOVERY_P99_SLACK_MS;
    const backlogLimit = Math.max(baselineBacklog + residualBacklog, settledBacklog) + RECOVERY_BACKLOG_SLACK_S * consumed;
    const normal = (t: number) => {
      const p99 = p99At.get(t);
      const sample = sampleAt.get(t);
      return p99 !== undefined && p99 <= p99Limit && (sample === undefined || sample.backlog <= backlogLimit);
    };

    let recoveredAt: number | null = null;
    let backlogPeak = 0;
    let p99Peak = 0;
    const from = Math.floor(phase.start_s);
    const end = Math.floor(phase.end_s);
    for (let t = from; t <= lastSecond; t++) {
      backlogPeak = Math.max(backlogPeak, sampleAt.get(t)?.backlog ?? 0);
      p99Peak = Math.max(p99Peak, p99At.get(t) ?? 0);
      if (t < end) continue;
      let streak = 0;
      while (streak < RECOVERY_STREAK_S && t + streak <= lastSecond && normal(t + streak)) streak++;
      if (streak === RECOVERY_STREAK_S) {
        recoveredAt = t;
        break;
      }
    }
    results.push({
      phase: phase.name,
      baseline_phase: baseline.name,
      baseline_p99_ms: baselineP99,
      baseline_backlog: baselineBacklog,
      recovery_s: recoveredAt === null ? null : Math.max(0, recoveredAt - phase.end_s),
      backlog_peak: backlogPeak,
      p99_peak_ms: p99Peak,
    });
  });
  return results;
}

function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
