// `npm run gate`: a performance gate for CI. Runs the candidate config --replicates times and
// compares p99 (and optionally p50, throughput) with a baseline by the rule in ./stats.ts:
// (a) --baseline FILE: the replicates stored by an earlier --update-baseline;
// (b) --baseline-set path=value: the baseline is the candidate config with those --set changes,
//     measured now, interleaved B C B C … (preferred: same machine, same moment);
// (c) --aa N: N pairs of groups of the same config, to measure the rule's false-positive rate.
// Events lost, never acked or never sent, or sink duplicates, in a scenario that promises none fail
// the gate outright.
// Exit codes: 0 pass · 1 regression or correctness failure · 2 bad input · 3 invalid runs or undecidable.
//
// This file is the planning (parseGateArgs: three modes) and runGate, which has the runs made by the
// campaign runner (commands/campaign/campaign.ts) and turns them into the decisions, gate.json,
// gate.md, gate.html (its tables as charts) and a baseline file. The verdict's rules are ./verdict.ts, the statistics ./stats.ts, the
// baseline file's format ./baseline.ts and the rendering reports/gate.ts.

import { redactDeep, redactPasswords } from '../../aggregator/redact.ts';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { cpus, loadavg } from 'node:os';
import yargs from 'yargs';
import type { RunFigures } from '../../engine/figures.ts';
import { summarize } from '../campaign/summary.ts';
import { renderGateHtml } from '../../reports/html.ts';
import { GATE_SCHEMA, renderGate, type AaSummary, type GateMode, type GateReport, type GateRun } from '../../reports/gate.ts';
import type { Scenario } from '../../scenarios/schema.ts';
import { strictParser } from '../bench/bench.ts';
import { CampaignInterrupted, commandLine, runCampaignCommand, describeLoad, runCampaign, type CampaignArm, type CampaignRun } from '../campaign/campaign.ts';
import { EXIT, UsageError } from '../../cli/exit.ts';
import { COMMON_FLAG_OPTIONS, COMMON_FLAGS, givenScenarioFlags, joinNegativeValues, parseSetFlags, splitList } from '../../cli/flags.ts';
import type { RunResult } from '../../engine/result.ts';
import { resolveRun, type ResolvedRun, type RunRequest } from '../../engine/resolve.ts';
import { makeRunId, type RunOptions } from '../../engine/run.ts';
import { coefficientOfVariation, decide, METRICS, type Decision, type GateMetric } from './stats.ts';
import { correctnessFailures, loadConfound, outcomeOf, promisedZero, summarizeAa } from './verdict.ts';
import { BASELINE_SCHEMA, flagsGiven, readBaselineFile, type BaselineFile } from './baseline.ts';
import { makeDirectory, refuseUnwritableFile, refuseUnwritableOutput, writeFileWhole } from '../../cli/output.ts';

export const DEFAULT_GATE_REPLICATES = 5;
export const DEFAULT_FLOOR = 0.1;
export const DEFAULT_CONFIDENCE = 0.9;
export const DEFAULT_CV_LIMIT = 0.3;
/** Baseline-file mode: largest difference in 1-min load average per core between the candidate's runs and the stored ones. */
export const DEFAULT_LOAD_LIMIT = 0.5;
/** --update-baseline: a median 1-min load average per core above this is worth a warning (the gate alone makes ~0.5). */
const BUSY_BASELINE_LOAD_PER_CORE = 0.75;

/** Metric names on the command line → the figures they gate. */
const METRIC_NAMES: Record<string, GateMetric> = {
  p99: METRICS.p99_ms,
  p99_ms: METRICS.p99_ms,
  p50: METRICS.p50_ms,
  p50_ms: METRICS.p50_ms,
  throughput: METRICS.committed_per_s,
  committed_per_s: METRICS.committed_per_s,
};

export interface GateSide {
  label: string;
  /** What the side asks for, and what it resolves to. */
  request: RunRequest;
  run: ResolvedRun;
}

export interface GatePlan {
  command: string;
  mode: GateMode;
  scenario: Scenario;
  load: string;
  replicates: number;
  metrics: GateMetric[];
  floor: number;
  confidence: number;
  cv_limit: number;
  /** Baseline-file mode: the load-per-core difference beyond which the verdict cannot be trusted. */
  load_limit: number;
  candidate: GateSide;
  /** The flags every run was given, as a baseline file records them (flagsGiven). */
  flags_given: string[];
  /** Interleaved mode: the baseline config. */
  baseline: GateSide | null;
  /** --baseline FILE: its path, and its contents when comparing against it. */
  baseline_path: string | null;
  baseline_file: BaselineFile | null;
  aa_pairs: number;
  out_dir: string;
  summary: string | null;
  quiet: boolean;
}

/** The metric figure of one run, or null. */
function figure(f: RunFigures | null, metric: GateMetric): number | null {
  if (!f) return null;
  const value = (f as unknown as Record<string, number | null>)[metric.name];
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

export async function parseGateArgs(argv: string[]): Promise<GatePlan> {
  const args = await strictParser(
    yargs(joinNegativeValues(argv))
      .scriptName('npm run gate --')
      .usage(
        'Performance gate: run the candidate --replicates times and compare p99 (and optionally p50, throughput) with a baseline; ' +
          'a regression must be statistically significant AND larger than --floor.\n\n' +
          'Usage: $0 --scenario smoke --baseline-set aggregator.batch_size=1   (interleaved, preferred)\n' +
          '       $0 --scenario smoke --baseline baselines/smoke.json [--update-baseline]\n' +
          '       $0 --scenario smoke --aa 10   (false-positive rate of the rule)\n\n' +
          'Exit codes: 0 pass · 1 regression, or an event lost, never acked, never sent or doubled in the sink · 2 bad input · 3 invalid runs or undecidable · 130/143 interrupted by SIGINT/SIGTERM (the run under way stops and cleans up; no gate file or baseline is written)',
      )
      .options({
        scenario: { type: 'string', describe: 'scenario name or file' },
        baseline: { type: 'string', describe: 'baseline file (written by --update-baseline): compare against its replicates' },
        'update-baseline': { type: 'boolean', default: false, describe: 'measure the candidate and write it to the --baseline file instead of comparing' },
        'baseline-set': { type: 'array', string: true, describe: 'interleaved mode: the baseline is the candidate with this --set applied (repeatable)' },
        aa: { type: 'number', describe: 'A/A: N pairs of groups of the same config; reports the false-positive rate of the rule' },
        replicates: { type: 'number', default: DEFAULT_GATE_REPLICATES, describe: 'runs per side (per group in --aa)' },
        metrics: { type: 'string', default: 'p99', describe: 'metrics to gate, comma-separated: p99, p50, throughput' },
        floor: { type: 'number', default: DEFAULT_FLOOR, describe: 'effect-size floor: smallest relative change that can fail the gate (0.1 = 10%)' },
        confidence: { type: 'number', default: DEFAULT_CONFIDENCE, describe: 'confidence of the tests (0.9: p ≤ 0.1 and a 90% interval)' },
        'cv-limit': { type: 'number', default: DEFAULT_CV_LIMIT, describe: 'largest coefficient of variation of a side for a decision (else exit 3)' },
        'load-limit': {
          type: 'number',
          default: DEFAULT_LOAD_LIMIT,
          describe: '--baseline FILE: largest difference in 1-min load average per core between the candidate runs and the stored ones before a regression (machine busier) or a pass (machine quieter) is undecidable (exit 3)',
        },
        set: { type: 'array', string: true, describe: 'change a scenario field (both sides): --set phases[1].rate=800' },
        ...COMMON_FLAG_OPTIONS,
        out: { type: 'string', describe: 'output directory (default reports/out/<timestamp>-gate-<scenario>)' },
        summary: { type: 'string', describe: 'also write the markdown summary here (e.g. $GITHUB_STEP_SUMMARY)' },
        quiet: { type: 'boolean', default: false, describe: 'no progress lines' },
      })
  ).parseAsync();

  const problems: string[] = [];
  const replicates = args.replicates;
  if (!Number.isInteger(replicates) || replicates < 2) problems.push(`--replicates must be a whole number ≥ 2, got '${String(replicates)}'`);
  if (!(args.floor >= 0)) problems.push(`--floor must be ≥ 0 (a fraction: 0.1 = 10%), got '${String(args.floor)}'`);
  if (!(args.confidence > 0 && args.confidence < 1)) problems.push(`--confidence must be between 0 and 1 (0.9 = 90%), got '${String(args.confidence)}'`);
  if (!(args['cv-limit'] > 0)) problems.push(`--cv-limit must be > 0, got '${String(args['cv-limit'])}'`);
  if (!(args['load-limit'] > 0)) problems.push(`--load-limit must be > 0 (load average per core), got '${String(args['load-limit'])}'`);
  const metrics: GateMetric[] = [];
  for (const name of splitList(args.metrics, '--metrics')) {
    const metric = METRIC_NAMES[name];
    if (!metric) problems.push(`--metrics: unknown metric '${name}' (p99, p50, throughput)`);
    else if (!metrics.includes(metric)) metrics.push(metric);
  }

  const baselineSets = (args['baseline-set'] ?? []).map(String);
  const modes = [args.baseline !== undefined ? '--baseline' : '', baselineSets.length > 0 ? '--baseline-set' : '', args.aa !== undefined ? '--aa' : ''].filter(Boolean);
  let mode: GateMode = 'interleaved';
  if (modes.length !== 1) problems.push(modes.length === 0 ? 'give a baseline: --baseline-set path=value (interleaved, preferred), --baseline FILE, or --aa N' : `one baseline at a time: got ${modes.join(' and ')}`);
  else if (modes[0] === '--baseline') mode = args['update-baseline'] ? 'update-baseline' : 'baseline-file';
  else if (modes[0] === '--aa') mode = 'aa';
  if (args['update-baseline'] && args.baseline === undefined) problems.push('--update-baseline needs --baseline FILE (where to write it)');
  if (args.aa !== undefined && (!Number.isInteger(args.aa) || args.aa < 1)) problems.push(`--aa must be a whole number of pairs ≥ 1, got '${String(args.aa)}'`);

  let baselineFile: BaselineFile | null = null;
  if (mode === 'baseline-file' && args.baseline !== undefined) {
    if (!existsSync(args.baseline)) problems.push(`--baseline: ${args.baseline} does not exist (write it with --update-baseline)`);
    else {
      try {
        baselineFile = readBaselineFile(args.baseline);
      } catch (error) {
        if (!(error instanceof UsageError)) throw error;
        problems.push(error.message);
      }
    }
  }

  // The candidate's request is every run's; the baseline's adds --baseline-set changes after its --set.
  const set = parseSetFlags(args.set ?? []);
  const common: RunRequest = { scenario: args.scenario, flags: givenScenarioFlags(args, COMMON_FLAGS), changes: set.changes, broker: args.broker, broker_flags: { 'broker-ca': args['broker-ca'], 'broker-cert': args['broker-cert'], 'broker-key': args['broker-key'], 'mqtt-version': args['mqtt-version'] }, sink: args.sink, aggregator: 'reference' };
  const resolved = (request: RunRequest, parseProblems: readonly string[], label: string): ResolvedRun | undefined => {
    const resolution = resolveRun(request);
    const found = [...parseProblems, ...(resolution.ok ? [] : resolution.problems)];
    problems.push(...found.map((p) => (label ? `${label}: ${p}` : p)));
    return resolution.ok && found.length === 0 ? resolution.run : undefined;
  };
  const candidateRun = resolved(common, set.problems, '');
  let baseline: GateSide | null = null;
  if (mode === 'interleaved' && baselineSets.length > 0 && candidateRun) {
    const changes = parseSetFlags(baselineSets);
    const request: RunRequest = { ...common, changes: [...common.changes, ...changes.changes] };
    const run = resolved(request, changes.problems, `--baseline-set ${baselineSets.join(' ')}`);
    if (run) baseline = { label: `--set ${baselineSets.join(' --set ')}`, request, run };
  }
  if (baselineFile && candidateRun && baselineFile.scenario !== candidateRun.scenario.name) {
    problems.push(`--baseline: ${args.baseline} is a baseline of scenario '${baselineFile.scenario}', not '${candidateRun.scenario.name}'`);
  }
  if (problems.length > 0 || !candidateRun) throw new UsageError(problems.join('\nerror: ') || 'bad arguments');

  const scenario = candidateRun.scenario;
  return {
    command: commandLine('gate', argv),
    mode,
    scenario,
    load: describeLoad(scenario),
    replicates,
    metrics,
    floor: args.floor,
    confidence: args.confidence,
    cv_limit: args['cv-limit'],
    load_limit: args['load-limit'],
    candidate: { label: mode === 'aa' ? 'A/A' : 'candidate (this checkout)', request: common, run: candidateRun },
    flags_given: flagsGiven(args),
    baseline,
    baseline_path: args.baseline === undefined ? null : resolve(args.baseline),
    baseline_file: baselineFile,
    aa_pairs: args.aa ?? 0,
    out_dir: resolve(args.out ?? join('reports', 'out', makeRunId(`gate-${scenario.name}`))),
    summary: args.summary ?? null,
    quiet: args.quiet,
  };
}

export interface GateDeps {
  run?: (options: RunOptions) => Promise<RunResult>;
  log?: (line: string) => void;
  progress?: (line: string) => void;
  now?: () => Date;
  /** The machine's 1-minute load average (os.loadavg()[0]), read after each run: the conditions it ran in. */
  loadAverage?: () => number;
  /** SIGINT/SIGTERM (cli/interrupt.ts): the run under way stops and cleans up, then CampaignInterrupted is thrown; nothing of the gate is written. */
  signal?: AbortSignal;
}

/** A side of the gate as an arm of the campaign: its runs go to <side>-r<k>, or pair<p>-<side>-r<k> in an A/A pair. */
export interface GateArm extends CampaignArm {
  side: string;
  /** A/A pair (1-based); 0 otherwise. */
  pair: number;
}

/**
 * The runs of a plan as campaigns, made in turn, each interleaved: baseline and candidate (B C B C …);
 * per A/A pair, A and B (A B A B …); or the candidate alone.
 */
export function gateCampaigns(plan: Pick<GatePlan, 'mode' | 'candidate' | 'baseline' | 'aa_pairs'>): GateArm[][] {
  const arm = (side: string, pair: number, run: ResolvedRun): GateArm => ({ label: `${side}${pair ? ` pair ${pair}` : ''}`, dir: `${pair ? `pair${pair}-` : ''}${side}`, run, side, pair });
  const c = plan.candidate.run;
  if (plan.mode === 'interleaved') return [[arm('baseline', 0, plan.baseline!.run), arm('candidate', 0, c)]];
  if (plan.mode === 'aa') return Array.from({ length: plan.aa_pairs }, (_, i) => [arm('A', i + 1, c), arm('B', i + 1, c)]);
  return [[arm('candidate', 0, c)]];
}

/** A run of the campaign as gate.json records it, with the machine's load when it ended. */
function gateRun(run: CampaignRun<GateArm>, loadAvg: number): GateRun {
  const { order, replicate, out_dir, run_id, valid, invalid_reasons, error, figures } = run;
  return { order, side: run.arm.side, pair: run.arm.pair, replicate, out_dir, run_id, valid, invalid_reasons, error, figures, load_avg_1m: loadAvg };
}

const round2 = (x: number) => Math.round(x * 100) / 100;

function runLine(run: GateRun, total: number): string {
  const head = `[${String(run.order).padStart(String(total).length)}/${total}] ${run.side}${run.pair ? ` pair ${run.pair}` : ''} r${run.replicate}`;
  if (run.error !== null) return `${head}  error: ${run.error}`;
  const f = run.figures!;
  return `${head}  committed ${f.committed_per_s.toFixed(0)} ev/s  p50 ${f.p50_ms?.toFixed(2) ?? '—'} ms  p99 ${f.p99_ms?.toFixed(2) ?? '—'} ms  lost ${f.lost ?? '—'}  load ${run.load_avg_1m?.toFixed(2) ?? '—'}  ${run.valid ? 'valid' : `INVALID: ${run.invalid_reasons.join('; ')}`}`;
}

export async function runGate(plan: GatePlan, deps: GateDeps = {}): Promise<{ report: GateReport; markdown: string }> {
  const log = deps.log ?? (() => {});
  const now = deps.now ?? (() => new Date());
  const loadAverage = deps.loadAverage ?? (() => loadavg()[0]!);
  const started = now();
  const campaigns = gateCampaigns(plan);
  const total = campaigns.reduce((sum, arms) => sum + arms.length * plan.replicates, 0);
  makeDirectory(plan.out_dir);
  log(`chaosbench gate: ${plan.scenario.name} · ${plan.mode} · ${total} runs · ${plan.load} · out ${plan.out_dir}`);

  const runs: GateRun[] = [];
  let machine: RunResult['machine'] | null = null;
  let firstSha: string | null = null;
  for (const arms of campaigns) {
    const made = await runCampaign(
      { arms, replicates: plan.replicates, out_dir: plan.out_dir, numbering: { first: runs.length + 1, total } },
      {
        run: deps.run,
        progress: deps.progress,
        warn: log,
        done: (run) => {
          const measured = gateRun(run, round2(loadAverage()));
          runs.push(measured);
          log(runLine(measured, total));
        },
        ...(deps.signal ? { signal: deps.signal } : {}),
      },
    );
    // Interrupted: no verdict, no gate files, no baseline written (the runs' own files are whole).
    if (made.interrupted !== undefined) throw new CampaignInterrupted(made.interrupted, runs.length, total, plan.mode === 'update-baseline' ? 'the baseline and gate.md' : 'gate.md', plan.out_dir);
    machine ??= made.machine;
    firstSha ??= made.git_sha;
  }
  const gitSha = firstSha ?? 'unknown';

  const promised = promisedZero(plan.scenario);
  const failures = correctnessFailures(runs, promised);
  // Only valid runs count: an invalid run (the generator fell behind) measured the machine, not the system.
  const values = (metric: GateMetric, side: string, pair?: number) =>
    runs.filter((r) => r.valid && r.side === side && (pair === undefined || r.pair === pair)).flatMap((r) => {
      const v = figure(r.figures, metric);
      return v === null ? [] : [v];
    });
  const stat = { floor: plan.floor, confidence: plan.confidence, cvLimit: plan.cv_limit };

  let decisions: Decision[] = [];
  let aa: AaSummary | null = null;
  if (plan.mode === 'interleaved') {
    decisions = plan.metrics.map((metric) => decide({ ...stat, metric, baseline: values(metric, 'baseline'), candidate: values(metric, 'candidate') }));
  } else if (plan.mode === 'baseline-file') {
    const stored = plan.baseline_file!.replicates.filter((r) => r.valid);
    decisions = plan.metrics.map((metric) =>
      decide({ ...stat, metric, baseline: stored.flatMap((r) => (figure(r.figures, metric) === null ? [] : [figure(r.figures, metric)!])), candidate: values(metric, 'candidate') }),
    );
  } else if (plan.mode === 'aa') {
    const metric = plan.metrics[0]!;
    const perPair: Decision[] = [];
    for (let p = 1; p <= plan.aa_pairs; p++) perPair.push(decide({ ...stat, metric, baseline: values(metric, 'A', p), candidate: values(metric, 'B', p), seed: 0x6a7e + p }));
    aa = summarizeAa(perPair);
    // And the two halves pooled: does the whole A/A set look like no change?
    decisions = plan.metrics.map((m) => decide({ ...stat, metric: m, baseline: values(m, 'A'), candidate: values(m, 'B') }));
  }

  const stored = plan.baseline_file;
  const loads = (side: string) => runs.filter((r) => r.side === side).map((r) => r.load_avg_1m);
  const [baselineSide, candidateSide] = plan.mode === 'aa' ? ['A', 'B'] : ['baseline', 'candidate'];
  const machineLoad = {
    baseline: summarize(stored ? stored.replicates.map((r) => r.load_avg_1m) : loads(baselineSide)),
    candidate: summarize(loads(candidateSide)),
  };
  const confound = plan.mode === 'baseline-file' ? loadConfound(machineLoad.baseline, machineLoad.candidate, machine?.cpus ?? cpus().length, plan.load_limit, decisions) : null;
  const { outcome, exit, message } = outcomeOf(plan.mode, runs, failures, decisions, confound);
  const notes: string[] = [];
  if (plan.baseline_file) {
    const key = (argv: readonly string[]) => JSON.stringify([...argv].sort());
    if (key(plan.baseline_file.bench_argv) !== key(plan.flags_given)) {
      notes.push(`the baseline file was measured with other flags (${plan.baseline_file.bench_argv.join(' ')}) than this candidate (${plan.flags_given.join(' ')})`);
    }
  }
  if (plan.mode === 'update-baseline' && outcome === 'baseline-written') {
    // The baseline is the yardstick of every later comparison: a busy or spread one makes them
    // undecidable (the load rule) or blind (a slow baseline hides a regression). Say so now.
    const cores = machine?.cpus ?? cpus().length;
    const perCore = machineLoad.candidate ? machineLoad.candidate.median / cores : 0;
    if (perCore > BUSY_BASELINE_LOAD_PER_CORE) notes.push(`this baseline was written on a busy machine (1-min load average ${machineLoad.candidate!.median.toFixed(2)} on ${cores} cores, the gate's own runs count for about 0.5 per core): write it again when the machine is otherwise idle`);
    for (const metric of plan.metrics) {
      const cv = coefficientOfVariation(values(metric, 'candidate'));
      if (cv > plan.cv_limit / 3) notes.push(`the ${metric.name} of this baseline's runs spread widely (CV ${(cv * 100).toFixed(1)}%): comparisons against it will often be undecidable; write it again on a quieter machine`);
    }
  }
  for (const note of notes) log(`warning: ${note}`);
  const sameMachine = (a: RunResult['machine'] | null, b: RunResult['machine'] | null) => !a || !b || (a.cpu_model === b.cpu_model && a.cpus === b.cpus && a.node === b.node && a.platform === b.platform && a.arch === b.arch);
  const report: GateReport = {
    schema: GATE_SCHEMA,
    command: plan.command,
    mode: plan.mode,
    scenario: plan.scenario.name,
    load: plan.load,
    replicates: plan.replicates,
    baseline_label:
      plan.mode === 'interleaved' ? `candidate with ${plan.baseline!.label}` : plan.mode === 'baseline-file' ? `file ${plan.baseline_path} (${stored!.replicates.length} replicates, ${stored!.created_at})` : plan.mode === 'aa' ? 'the same config (A)' : `(writing ${plan.baseline_path})`,
    candidate_label: plan.mode === 'aa' ? 'the same config (B)' : 'this checkout',
    machine,
    baseline_machine: stored && !sameMachine(stored.machine, machine) ? stored.machine : null,
    git_sha: gitSha,
    baseline_git_sha: stored?.git_sha ?? null,
    machine_load: machineLoad,
    started_at: started.toISOString(),
    finished_at: now().toISOString(),
    runs,
    correctness: { promised, failures },
    decisions,
    aa,
    outcome,
    exit,
    message,
    notes,
  };

  if (plan.mode === 'update-baseline' && outcome === 'baseline-written') {
    const file: BaselineFile = {
      schema: BASELINE_SCHEMA,
      scenario: plan.scenario.name,
      bench_argv: plan.flags_given,
      load: plan.load,
      command: plan.command,
      created_at: report.finished_at,
      git_sha: gitSha,
      machine,
      replicates: runs.map((r) => ({ replicate: r.replicate, run_id: r.run_id, valid: r.valid, figures: r.figures, load_avg_1m: r.load_avg_1m })),
    };
    makeDirectory(dirname(plan.baseline_path!));
    writeFileWhole(plan.baseline_path!, `${JSON.stringify(redactDeep(file), null, 2)}\n`);
    report.message = `${runs.length} replicates written to ${plan.baseline_path}`;
  }
  // Nothing here should carry a password (flags with one are refused, results are redacted): *** all the same.
  const markdown = redactPasswords(renderGate(report));
  writeFileWhole(join(plan.out_dir, 'gate.json'), `${JSON.stringify(redactDeep(report), null, 2)}\n`);
  writeFileWhole(join(plan.out_dir, 'gate.md'), markdown);
  writeFileWhole(join(plan.out_dir, 'gate.html'), redactPasswords(renderGateHtml(report)));
  if (plan.summary) {
    makeDirectory(dirname(resolve(plan.summary)));
    writeFileWhole(resolve(plan.summary), markdown);
  }
  return { report, markdown };
}

export async function main(argv: string[]): Promise<number> {
  let plan: GatePlan;
  try {
    plan = await parseGateArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`error: ${redactPasswords(error.message)}\n\nRun with --help for the options.\n`);
    return EXIT.bad_input;
  }
  // Before anything runs: each place the gate writes to must take a file (exit 2 naming its flag).
  if (refuseUnwritableOutput(plan.out_dir)) return EXIT.bad_input;
  if (plan.summary != null && refuseUnwritableFile(resolve(plan.summary), '--summary')) return EXIT.bad_input;
  if (plan.mode === 'update-baseline' && refuseUnwritableFile(resolve(plan.baseline_path!), '--baseline')) return EXIT.bad_input;
  const ran = await runCampaignCommand(plan.quiet, 'the gate', (deps) => runGate(plan, deps));
  if ('exit' in ran) return ran.exit;
  const { report, markdown } = ran.outcome;
  process.stdout.write(`${markdown}\ngate: ${join(plan.out_dir, 'gate.md')}\n`);
  return report.exit;
}
