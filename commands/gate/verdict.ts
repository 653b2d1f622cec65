// The gate's verdict, as pure rules over the runs and the statistics' decisions (./stats.ts): what
// the scenario promises to keep at 0 and which runs broke it, the A/A false-positive summary,
// whether the machine's load can explain a verdict against a stored baseline, and the outcome with
// its exit code, in order of precedence. Pure: no run, no file, no clock.

import type { AaSummary, CorrectnessFailure, GateMode, GateOutcome, GateRun } from '../../reports/gate.ts';
import { CORRECTNESS_METRICS, type CorrectnessMetric } from '../../engine/result.ts';
import type { Summary } from '../campaign/summary.ts';
import type { Scenario } from '../../scenarios/schema.ts';
import { EXIT } from '../../cli/exit.ts';
import type { Decision } from './stats.ts';

/** Which correctness promises the scenario makes (a check that the count is 0). */
export function promisedZero(scenario: Pick<Scenario, 'checks'>): CorrectnessMetric[] {
  const zero = (metric: string) => scenario.checks.some((c) => c.metric === metric && ((c.op === '==' && c.value === 0) || (c.op === '<=' && c.value <= 0) || (c.op === '<' && c.value <= 1)));
  return CORRECTNESS_METRICS.filter(zero);
}

/** The correctness gate: every run's lost, never acked, never sent and sink duplicates, against what the scenario promises. */
export function correctnessFailures(runs: readonly GateRun[], promised: readonly CorrectnessMetric[]): CorrectnessFailure[] {
  const failures: CorrectnessFailure[] = [];
  for (const run of runs) {
    for (const metric of promised) {
      const actual = run.figures?.[metric];
      if (typeof actual === 'number' && actual > 0) failures.push({ side: run.side, pair: run.pair, replicate: run.replicate, metric, actual });
    }
  }
  return failures;
}

/** The A/A summary from each pair's decision on the first metric. */
export function summarizeAa(decisions: Decision[]): AaSummary {
  const count = (v: Decision['verdict']) => decisions.filter((d) => d.verdict === v).length;
  const pairs = decisions.length;
  const regressions = count('regression');
  const improvements = count('improvement');
  const undecidable = count('undecidable');
  return {
    pairs,
    decided: pairs - undecidable,
    regressions,
    improvements,
    undecidable,
    false_positive_rate: pairs === 0 ? 0 : regressions / pairs,
    any_difference_rate: pairs === 0 ? 0 : (regressions + improvements) / pairs,
    decisions,
  };
}

/**
 * Baseline-file mode: the stored replicates were measured at another time, and on a shared machine
 * "another time" can mean another load. A busier machine slows p99 as a regression would, and a
 * quieter one can hide a regression, so when the 1-min load average per core differs by more than
 * `limit` in the direction that would explain the verdict, the verdict cannot be trusted. Returns
 * why, or null. (The load includes the gate's own processes, the same on both sides.)
 */
export function loadConfound(baseline: Summary | null, candidate: Summary | null, cpus: number, limit: number, decisions: readonly Decision[]): string | null {
  if (!baseline || !candidate || !(cpus > 0) || decisions.length === 0) return null;
  const perCore = (candidate.median - baseline.median) / cpus;
  const figures = `1-min load average ${candidate.median.toFixed(2)} during the candidate runs against ${baseline.median.toFixed(2)} when the baseline was written, on ${cpus} cores: ${perCore >= 0 ? '+' : ''}${perCore.toFixed(2)} per core, beyond ±${limit}`;
  const regression = decisions.some((d) => d.verdict === 'regression');
  if (regression && perCore > limit) return `the machine was busier than when the baseline was written (${figures}): a slower p99 cannot be told from a busier machine`;
  const passed = decisions.every((d) => d.verdict === 'no-change' || d.verdict === 'improvement');
  if (passed && perCore < -limit) return `the machine was quieter than when the baseline was written (${figures}): a regression could hide behind the baseline's slower machine`;
  return null;
}

/** Outcome and exit code, in order of precedence: correctness, invalid runs, a load confound, regression, undecidable. */
export function outcomeOf(
  mode: GateMode,
  runs: readonly GateRun[],
  failures: readonly CorrectnessFailure[],
  decisions: readonly Decision[],
  confound: string | null = null,
): { outcome: GateOutcome; exit: number; message: string } {
  if (failures.length > 0) {
    const list = failures.map((f) => `${f.side}${f.pair ? ` pair ${f.pair}` : ''} r${f.replicate} ${f.metric} = ${f.actual}`).join(', ');
    return { outcome: 'correctness-failure', exit: EXIT.check_failed, message: `events lost, never acked or never sent, or sink duplicates: ${list}` };
  }
  const invalid = runs.filter((r) => !r.valid);
  if (invalid.length > 0) {
    const reasons = [...new Set(invalid.flatMap((r) => (r.error !== null ? [`did not complete: ${r.error}`] : r.invalid_reasons)))];
    return { outcome: 'invalid', exit: EXIT.invalid_run, message: `${invalid.length} of ${runs.length} runs invalid: ${reasons.join('; ')}` };
  }
  if (mode === 'update-baseline') return { outcome: 'baseline-written', exit: EXIT.ok, message: `${runs.length} replicates written` };
  if (mode === 'aa') return { outcome: 'aa-measured', exit: EXIT.ok, message: 'A/A pairs measured' };
  if (confound) return { outcome: 'undecidable', exit: EXIT.invalid_run, message: `${confound} (the statistics alone: ${decisions.map((d) => `${d.metric} ${d.verdict}`).join(', ')})` };
  const regressions = decisions.filter((d) => d.verdict === 'regression');
  if (regressions.length > 0) return { outcome: 'regression', exit: EXIT.check_failed, message: regressions.map((d) => `${d.metric}: ${d.reason}`).join('; ') };
  const undecided = decisions.filter((d) => d.verdict === 'undecidable');
  if (undecided.length > 0) return { outcome: 'undecidable', exit: EXIT.invalid_run, message: undecided.map((d) => `${d.metric}: ${d.reason}`).join('; ') };
  return { outcome: 'pass', exit: EXIT.ok, message: decisions.map((d) => `${d.metric}: ${d.verdict}`).join(', ') };
}
