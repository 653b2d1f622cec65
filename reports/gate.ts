// gate.json and the markdown summary of `npm run gate` (for a CI job summary): pure, rendered from
// the report alone. One row per gated metric with the estimate, the interval, the p-value, the
// floor and the verdict, then the rule in words, the correctness gate and any invalid runs.

import type { Decision, Verdict } from '../commands/gate/stats.ts';
import type { CorrectnessMetric, RunResult } from '../engine/result.ts';
import type { RunFigures } from '../engine/figures.ts';
import { escapeCell } from './compare.ts';
import type { Summary } from '../commands/campaign/summary.ts';

export const GATE_SCHEMA = 'chaosbench.gate/v1';

export type GateMode = 'baseline-file' | 'interleaved' | 'aa' | 'update-baseline';
export type GateOutcome = 'pass' | 'regression' | 'correctness-failure' | 'invalid' | 'undecidable' | 'baseline-written' | 'aa-measured';

export interface GateRun {
  /** 1-based position in the order the runs were made. */
  order: number;
  /** 'baseline' or 'candidate'; in an A/A pair 'A' and 'B'. */
  side: string;
  /** A/A pair (1-based); 0 otherwise. */
  pair: number;
  replicate: number;
  out_dir: string;
  run_id: string | null;
  valid: boolean;
  invalid_reasons: string[];
  error: string | null;
  figures: RunFigures | null;
  /** The machine's 1-minute load average when the run ended: how busy the machine was (the gate's own processes included). */
  load_avg_1m: number | null;
}


export interface CorrectnessFailure {
  side: string;
  pair: number;
  replicate: number;
  metric: CorrectnessMetric;
  actual: number;
}

export interface AaSummary {
  pairs: number;
  /** Pairs with a decision (not undecidable) for the first metric. */
  decided: number;
  regressions: number;
  improvements: number;
  undecidable: number;
  /** Regressions / pairs: how often the rule fails a build that changed nothing. */
  false_positive_rate: number;
  /** Regressions or improvements / pairs. */
  any_difference_rate: number;
  /** The first metric's decision per pair. */
  decisions: Decision[];
}

export interface GateReport {
  schema: typeof GATE_SCHEMA;
  command: string;
  mode: GateMode;
  scenario: string;
  load: string;
  replicates: number;
  /** What the baseline is: a file, or the candidate with --set changes. */
  baseline_label: string;
  candidate_label: string;
  machine: RunResult['machine'] | null;
  /** The baseline file's machine, when it differs from this one's (a comparison across machines). */
  baseline_machine: RunResult['machine'] | null;
  git_sha: string;
  baseline_git_sha: string | null;
  /** 1-minute load averages of the runs per side (for a baseline file, those it stored): the conditions of the measurement. */
  machine_load: { baseline: Summary | null; candidate: Summary | null };
  started_at: string;
  finished_at: string;
  runs: GateRun[];
  correctness: { promised: CorrectnessMetric[]; failures: CorrectnessFailure[] };
  decisions: Decision[];
  aa: AaSummary | null;
  outcome: GateOutcome;
  exit: number;
  /** One sentence per outcome: why this exit code. */
  message: string;
  /** Warnings worth reading beside the verdict (e.g. a baseline file measured with other flags). */
  notes: string[];
}

const MISSING = '—';

function num(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return MISSING;
  const abs = Math.abs(value);
  return value.toFixed(abs >= 100 ? 0 : abs >= 10 ? 1 : 2);
}
const range = (s: Summary | null) => (s === null ? MISSING : `${num(s.median)} [${num(s.min)}–${num(s.max)}]`);
const pct = (x: number) => `${+(x * 100).toFixed(2)}%`;
const pValue = (p: number | null) => (p === null ? MISSING : p < 0.001 ? p.toExponential(1) : p.toFixed(3));

const VERDICT_MARK: Record<Verdict, string> = {
  regression: '❌ regression',
  improvement: '✅ improvement',
  'no-change': '✅ no change',
  undecidable: '⚠️ undecidable',
};

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** The metric table: one row per decision. */
export function decisionTable(decisions: readonly Decision[], baselineLabel = 'baseline', candidateLabel = 'candidate'): string {
  return table(...decisionTableData(decisions, baselineLabel, candidateLabel, escapeCell));
}

/** The metric table as data (header, rows), labels and metric names made safe by cell() (escapeCell for markdown). */
export function decisionTableData(decisions: readonly Decision[], baselineLabel: string, candidateLabel: string, cell: (text: string) => string): [string[], string[][]] {
  const confidence = decisions[0]?.confidence ?? 0.9;
  return [
    ['metric', `${cell(baselineLabel)} median [range]`, `${cell(candidateLabel)} median [range]`, 'ratio (cand/base)', `${pct(confidence)} CI`, 'p-value (Mann-Whitney)', 'floor', 'CV base / cand', 'verdict'],
    decisions.map((d) => [
      cell(d.metric),
      `${range(d.baseline)} (n=${d.baseline?.n ?? 0})`,
      `${range(d.candidate)} (n=${d.candidate?.n ?? 0})`,
      d.estimate === null ? MISSING : `${d.estimate.toFixed(3)}×`,
      d.interval === null ? MISSING : `${d.interval[0].toFixed(3)}–${d.interval[1].toFixed(3)}`,
      pValue(d.p_value),
      `±${pct(d.floor)}`,
      `${d.cv.baseline === null ? MISSING : pct(d.cv.baseline)} / ${d.cv.candidate === null ? MISSING : pct(d.cv.candidate)}`,
      `**${cell(VERDICT_MARK[d.verdict])}**`,
    ]),
  ];
}

export const OUTCOME_LINE: Record<GateOutcome, string> = {
  pass: '✅ **gate passed**',
  regression: '❌ **gate FAILED: regression**',
  'correctness-failure': '❌ **gate FAILED: correctness** (events lost, never acked or never sent, or sink duplicates, in a scenario that promises none)',
  invalid: '⚠️ **gate could not decide: invalid runs**',
  undecidable: '⚠️ **gate could not decide: too noisy, too few runs, or the machine busier or quieter than for the baseline**',
  'baseline-written': '📝 **baseline written**',
  'aa-measured': '🔬 **A/A measured**',
};

export function renderGate(report: GateReport): string {
  const out: string[] = [];
  out.push(`${OUTCOME_LINE[report.outcome]} — ${escapeCell(report.message)} (exit ${report.exit})`, '');
  out.push(`### chaosbench gate: ${escapeCell(report.scenario)}`, '');
  const m = report.machine;
  out.push(
    `- mode: ${report.mode} · ${report.replicates} replicate${report.replicates === 1 ? '' : 's'} per side · load per run: ${escapeCell(report.load)}`,
    `- baseline: ${escapeCell(report.baseline_label)}${report.baseline_git_sha ? ` (git ${report.baseline_git_sha.slice(0, 12)})` : ''} · candidate: ${escapeCell(report.candidate_label)} (git ${report.git_sha.slice(0, 12)})`,
    `- machine: ${m ? `${escapeCell(m.cpu_model)} × ${m.cpus} · node ${m.node} · ${m.platform}/${m.arch}` : 'unknown'}`,
  );
  const load = report.machine_load;
  if (load.baseline || load.candidate) {
    const [b, c] = report.mode === 'aa' ? ['A', 'B'] : ['baseline', 'candidate'];
    const sides = [load.baseline ? `${b} ${range(load.baseline)}` : '', load.candidate ? `${c} ${range(load.candidate)}` : ''].filter(Boolean);
    out.push(`- machine load (1-min load average after each run, median [range]; the gate's own processes included): ${sides.join(' · ')}`);
  }
  if (report.baseline_machine) {
    const b = report.baseline_machine;
    out.push(`- ⚠️ the baseline was measured on another machine (${escapeCell(b.cpu_model)} × ${b.cpus} · node ${b.node}): prefer the interleaved mode (--baseline-set)`);
  }
  for (const note of report.notes) out.push(`- ⚠️ ${escapeCell(note)}`);
  out.push(`- command: \`${report.command.replace(/`/g, "'")}\``, '');

  if (report.decisions.length > 0) {
    out.push(decisionTable(report.decisions, report.mode === 'aa' ? 'A' : 'baseline', report.mode === 'aa' ? 'B' : 'candidate'), '');
    for (const d of report.decisions) out.push(`- ${escapeCell(d.metric)}: ${escapeCell(d.reason)}`);
    const rules = [...new Set(report.decisions.map((d) => d.rule))];
    if (rules.length === 1) out.push(`- Rule: ${escapeCell(rules[0]!)}.`);
    else for (const d of report.decisions) out.push(`- Rule for ${escapeCell(d.metric)}: ${escapeCell(d.rule)}.`);
    out.push('');
  }

  if (report.aa) {
    const a = report.aa;
    out.push(
      `**A/A: ${a.regressions} false regression${a.regressions === 1 ? '' : 's'} in ${a.pairs} pairs = false-positive rate ${pct(a.false_positive_rate)}** (any difference, either way: ${pct(a.any_difference_rate)}; undecidable ${a.undecidable}/${a.pairs})`,
      '',
    );
    out.push(
      table(
        ['pair', 'A median', 'B median', 'ratio', 'CI', 'p-value', 'verdict'],
        a.decisions.map((d, i) => [String(i + 1), num(d.baseline?.median), num(d.candidate?.median), d.estimate === null ? MISSING : d.estimate.toFixed(3), d.interval === null ? MISSING : `${d.interval[0].toFixed(3)}–${d.interval[1].toFixed(3)}`, pValue(d.p_value), VERDICT_MARK[d.verdict]]),
      ),
      '',
    );
  }

  const c = report.correctness;
  if (c.promised.length === 0) out.push('- Correctness: the scenario promises no count of 0 (lost, never acked, never sent, sink duplicates); not gated.');
  else if (c.failures.length === 0) out.push(`- Correctness: ${c.promised.map((p) => `${p} = 0`).join(', ')} in every run ✅`);
  else {
    out.push(`- Correctness: **FAILED** — the scenario promises ${c.promised.map((p) => `${p} = 0`).join(' and ')}:`);
    for (const f of c.failures) out.push(`  - ${escapeCell(f.side)}${f.pair > 0 ? ` pair ${f.pair}` : ''} r${f.replicate}: ${f.metric} = ${f.actual}`);
  }
  const invalid = report.runs.filter((r) => !r.valid);
  if (invalid.length > 0) {
    out.push(`- Invalid runs (${invalid.length} of ${report.runs.length}):`);
    for (const r of invalid) out.push(`  - ${escapeCell(r.side)}${r.pair > 0 ? ` pair ${r.pair}` : ''} r${r.replicate}: ${escapeCell(r.error ?? (r.invalid_reasons.join('; ') || 'invalid'))}`);
  }
  out.push('');
  return out.join('\n');
}
