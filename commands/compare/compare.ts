// `npm run compare`: one scenario, several variants along one axis (a dedup store, the bare
// subscriber, or any scenario field), each run --replicates times, interleaved A B C A B C … so that
// the machine's drift reaches every variant alike. Every variant's scenario is built and validated
// (by the bench's own flag parsing) before anything runs; then each run goes to its own directory
// with its result.json and report, and compare.json + compare.md summarise them all.
// Exit codes: 0 every run valid · 2 bad input · 3 some run invalid or not completed.
//
// Why it is over 450 lines: it holds a command's three jobs in one file, each under its own
// functions — the axis and argument planning (splitList … parseCompareArgs, ~300 lines), the
// at-capacity second stage (atRateArgv, capacityRates), and the interleaved campaign runner
// (runCompare). The runner is the part issue 17 wants shared with the gate as one typed campaign
// runner; until then it stays here beside the planning that feeds it.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import yargs from 'yargs';
import { parsePath } from '../../scenarios/override.ts';
import { COMPARE_SCHEMA, figuresOf, renderCompare, renderCompareSummary, summarizeVariants, type AtCapacity, type CompareReport, type CompareRun } from '../../reports/compare.ts';
import { sanitizeFileName } from '../../reports/files.ts';
import { parseBenchArgs, strictParser, writeReportFiles, writeResult, type BenchArgs } from '../bench/bench.ts';
import { EXIT, UsageError } from '../../cli/exit.ts';
import { progressWriter } from '../../cli/progress.ts';
import { PASSED_RUN_FLAGS, SCENARIO_FLAG_NAMES, scenarioFlagOptions, type ScenarioFlagName } from '../../cli/flags.ts';
import { describeRate } from '../../engine/load/schedule.ts';
import { makeRunId, runScenario, WARMUP_PHASE, type AggregatorKind, type RunOptions } from '../../engine/run.ts';
import type { RunResult } from '../../engine/result.ts';

export const DEFAULT_REPLICATES = 3;
const MISSING_LOAD = 'no variant could run';

export interface CompareVariantPlan {
  /** Shown in the table and progress lines; unique. */
  name: string;
  /** File-name form of the name, unique: the run directories are <slug>-r<k>. */
  slug: string;
  /** The axis value as given. */
  value: string;
  aggregator: AggregatorKind;
  /** The bench command line of this variant (without --out), and what the bench makes of it. */
  argv: string[];
  bench: BenchArgs;
}

export interface ComparePlan {
  command: string;
  scenario: string;
  seed: number;
  axis: { flag: string; field: string };
  variants: CompareVariantPlan[];
  replicates: number;
  broker: string;
  out_dir: string;
  quiet: boolean;
  /** The measured load of one run, described. */
  load: string;
  /** --at-capacity: the fraction of each variant's own capacity to measure latency at (open model), after the main runs. */
  at_capacity?: number;
}

/** One axis, before the bench has seen it: the variants' names, values and bench flags. */
export interface AxisVariant {
  name: string;
  value: string;
  aggregator: AggregatorKind;
  /** Bench flags that make this variant (appended after the common flags, so they win). */
  argv: string[];
  /** The flag and value as the user would write them alone, for messages: --vary aggregator.batch_size=10. */
  label: string;
  /** '--set' messages from the bench are about this axis: name it instead. */
  set_is_axis: boolean;
}

export interface Axis {
  flag: string;
  field: string;
  variants: AxisVariant[];
}

/**
 * "a,b,c" → ["a", "b", "c"], splitting only at top-level commas: a JSON value such as
 * {"from":500,"to":4000} or [1,2] or "x,y" stays whole. Items are trimmed; an empty item is an error.
 */
export function splitList(text: string, flag: string): string[] {
  const items: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '\\') i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === '[' || c === '{') depth++;
    else if ((c === ']' || c === '}') && depth > 0) depth--;
    else if (c === ',' && depth === 0) {
      items.push(text.slice(start, i));
      start = i + 1;
    }
  }
  items.push(text.slice(start));
  const trimmed = items.map((item) => item.trim());
  if (trimmed.some((item) => item === '')) throw new UsageError(`${flag}: empty value in '${text}' (values are separated by commas, like ${flag} a,b,c)`);
  return trimmed;
}

/** Names made unique in order: a repeated value (an A/A comparison, to see the noise) gets #2, #3, … */
export function uniqueNames(names: readonly string[]): string[] {
  const seen = new Map<string, number>();
  const used = new Set(names);
  return names.map((name) => {
    const count = (seen.get(name) ?? 0) + 1;
    seen.set(name, count);
    if (count === 1) return name;
    let candidate = `${name}#${count}`;
    for (let k = count + 1; used.has(candidate); k++) candidate = `${name}#${k}`;
    used.add(candidate);
    return candidate;
  });
}

/** File-name forms of the names, unique (a clash gets -2, -3, …). */
export function uniqueSlugs(names: readonly string[]): string[] {
  const used = new Set<string>();
  return names.map((name) => {
    const base = sanitizeFileName(name);
    let slug = base;
    for (let k = 2; used.has(slug.toLowerCase()); k++) slug = `${base}-${k}`;
    used.add(slug.toLowerCase());
    return slug;
  });
}

export interface AxisFlags {
  dedup?: readonly string[] | undefined;
  aggregator?: readonly string[] | undefined;
  vary?: readonly string[] | undefined;
}

/**
 * The compared axis from --dedup, --aggregator or --vary (exactly one of them). Throws a UsageError
 * when the axis itself cannot be made (none or several given, a --vary without path=values, an
 * empty value); a value that is wrong on its own (an unknown --aggregator kind) is returned in
 * problems and left out, so that the other variants are still checked. Whether a value suits its
 * field (a dedup spec, a batch size) is the bench's and the scenario validator's to say, per variant.
 */
export function buildAxis(flags: AxisFlags): { axis: Axis; problems: string[] } {
  const given = (['dedup', 'aggregator', 'vary'] as const).filter((name) => (flags[name]?.length ?? 0) > 0);
  if (given.length === 0) {
    throw new UsageError('nothing to compare: give one axis, --dedup a,b,… or --aggregator reference,none or --vary path=v1,v2,… (e.g. --vary aggregator.batch_size=1,10,100)');
  }
  if (given.length > 1) throw new UsageError(`one axis at a time: got ${given.map((g) => `--${g}`).join(' and ')}; run one comparison per axis`);
  if ((flags.vary?.length ?? 0) > 1) throw new UsageError(`one axis at a time: --vary was given ${flags.vary!.length} times (${flags.vary!.join(', ')}); run one comparison per field`);

  const problems: string[] = [];
  let flag: string;
  let field: string;
  let made: Omit<AxisVariant, 'name'>[];
  let names: string[];
  if (given[0] === 'dedup') {
    const values = flags.dedup!.flatMap((text) => splitList(text, '--dedup'));
    [flag, field, names] = ['--dedup', 'aggregator.dedup', values];
    // 'bare' on this axis is the bare subscriber (--aggregator none): the ceiling each store is a share of.
    made = values.map((value) =>
      value === 'bare'
        ? { value, aggregator: 'none', argv: ['--aggregator=none'], label: '--aggregator none', set_is_axis: false }
        : { value, aggregator: 'reference', argv: [`--dedup=${value}`], label: `--dedup ${value}`, set_is_axis: false },
    );
  } else if (given[0] === 'aggregator') {
    const values = flags.aggregator!.flatMap((text) => splitList(text, '--aggregator'));
    [flag, field, names, made] = ['--aggregator', 'aggregator', [], []];
    for (const value of values) {
      const kind: AggregatorKind | undefined = value === 'reference' ? 'reference' : value === 'none' || value === 'bare' ? 'none' : undefined;
      if (kind === undefined) {
        problems.push(`--aggregator: unknown value '${value}' (reference: the aggregator under test; none or bare: a bare subscriber that acks on receipt)`);
        continue;
      }
      names.push(kind === 'none' ? 'bare' : 'reference');
      made.push({ value, aggregator: kind, argv: [`--aggregator=${kind}`], label: `--aggregator ${value}`, set_is_axis: false });
    }
  } else {
    const text = flags.vary![0]!;
    const at = text.indexOf('=');
    if (at <= 0) throw new UsageError(`--vary expects path=v1,v2,… (like --vary aggregator.batch_size=1,10,100), got '${text}'`);
    const path = text.slice(0, at).trim();
    let parts: (string | number)[];
    try {
      parts = parsePath(path);
    } catch (error) {
      throw new UsageError(`--vary: ${(error as Error).message}`);
    }
    const values = splitList(text.slice(at + 1), '--vary');
    const last = parts.filter((p): p is string => typeof p === 'string').at(-1) ?? path;
    [flag, field, names] = ['--vary', path, values.map((value) => `${last}=${value}`)];
    made = values.map((value) => ({ value, aggregator: 'reference', argv: [`--set=${path}=${value}`], label: `--vary ${path}=${value}`, set_is_axis: true }));
  }
  const unique = uniqueNames(names);
  return { axis: { flag, field, variants: made.map((v, i) => ({ ...v, name: unique[i]! })) }, problems };
}

/** The runs in the order they are made: round 1 runs every variant once, then round 2, … (A B C A B C). */
export function interleave<T>(variants: readonly T[], replicates: number): { variant: T; index: number; replicate: number }[] {
  const order: { variant: T; index: number; replicate: number }[] = [];
  for (let replicate = 1; replicate <= replicates; replicate++) {
    variants.forEach((variant, index) => order.push({ variant, index, replicate }));
  }
  return order;
}

/** The measured phases of a scenario in a few words: "storm 1000/s for 15 s (after 2 s of warm-up)". */
export function describeLoad(scenario: BenchArgs['scenario']): string {
  if (scenario.load.model === 'closed') {
    const total = scenario.phases.filter((p) => p.name !== WARMUP_PHASE).reduce((sum, p) => sum + p.duration_s, 0);
    return `closed model, ${scenario.load.concurrency} in flight for ${total} s`;
  }
  const measured = scenario.phases.filter((p) => p.name !== WARMUP_PHASE).map((p) => `${p.name} ${describeRate(p.rate)} for ${p.duration_s} s`);
  const warmup = scenario.phases.filter((p) => p.name === WARMUP_PHASE).reduce((sum, p) => sum + p.duration_s, 0);
  return `${measured.join(', ')}${warmup > 0 ? ` (after ${warmup} s of warm-up)` : ''}`;
}

const shellQuote = (arg: string) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`);

/**
 * The bench flags that compare and gate pass through to every run unchanged (the bench parses and
 * validates them): the named scenario flags but --dedup (compare's axis; gate sets it with --set),
 * and where the runs happen. One definition for both commands' --help and the pass-through loop.
 */
export const COMMON_FLAG_OPTIONS = {
  ...scenarioFlagOptions(SCENARIO_FLAG_NAMES.filter((name): name is Exclude<ScenarioFlagName, 'dedup'> => name !== 'dedup')),
  ...PASSED_RUN_FLAGS,
};

export const COMMON_FLAGS = Object.keys(COMMON_FLAG_OPTIONS) as (keyof typeof COMMON_FLAG_OPTIONS)[];

/** Parse and validate everything; throws a UsageError naming every problem at once. */
export async function parseCompareArgs(argv: string[]): Promise<ComparePlan | 'listed'> {
  const args = await strictParser(
    yargs(argv)
      .scriptName('npm run compare --')
      .usage(
        'Run one scenario in several variants, each --replicates times, interleaved (A B C A B C …), and write compare.md + compare.json.\n\n' +
          'Usage: $0 --scenario dup-storm --dedup memory,sqlite,none [options]\n\n' +
          'Exit codes: 0 every run valid · 2 bad input · 3 some run invalid or not completed',
      )
      .options({
        scenario: { type: 'string', describe: 'scenario name (see --list), or a scenario file: ./my.yaml, ./my.json' },
        list: { type: 'boolean', describe: 'list the scenarios and exit' },
        dedup: { type: 'array', string: true, describe: "axis: dedup stores to compare, comma-separated (memory,sqlite,none); short for --vary aggregator.dedup=…; 'bare' adds the bare subscriber, the ceiling the others are a share of" },
        aggregator: { type: 'array', string: true, describe: 'axis: reference,none — the aggregator against a bare subscriber that acks on receipt (shown as "bare")' },
        vary: { type: 'array', string: true, describe: 'axis: any scenario field and its values, path=v1,v2,… (values parsed like --set: JSON, else text)' },
        replicates: { type: 'number', default: DEFAULT_REPLICATES, describe: 'runs per variant' },
        'at-capacity': {
          type: 'number',
          describe:
            "after the (closed-model) runs, run every variant but the bare subscriber again in the open model at this fraction of its own capacity (its median committed ev/s), --replicates times, and report its latency there: 0.5 = p99 at half load",
        },
        set: { type: 'array', string: true, describe: 'change a scenario field for every variant: --set phases[1].rate=800 (repeatable)' },
        ...COMMON_FLAG_OPTIONS,
        out: { type: 'string', describe: 'output directory (default reports/out/<timestamp>-compare-<scenario>); runs go to <out>/<variant>-r<k>/' },
        quiet: { type: 'boolean', default: false, describe: 'no progress lines' },
      })
      .example('$0 --scenario dup-storm --dedup memory,sqlite,none --replicates 3', 'three dedup stores, three runs each')
      .example('$0 --scenario dup-storm --aggregator reference,none', 'the aggregator against the bare subscriber ceiling')
      .example('$0 --scenario dup-storm --vary aggregator.batch_size=1,10,100 --duration 10s', 'any scenario field as the axis')
      .example('$0 --scenario dup-storm --dedup sqlite,sqlite', 'an A/A comparison: how much do identical runs differ?')
      .example('$0 --scenario dup-storm --dedup bare,memory,redis --model closed --concurrency 1000 --duration 10s --at-capacity 0.5', "each store's capacity as a share of the bare subscriber, then its p99 at half its own capacity")
  ).parseAsync();

  if (args.list) {
    await parseBenchArgs(['--list']);
    return 'listed';
  }

  const problems: string[] = [];
  const replicates = args.replicates;
  if (!Number.isInteger(replicates) || replicates < 1) problems.push(`--replicates must be a whole number ≥ 1, got '${String(replicates)}'`);
  const atCapacity = args['at-capacity'];
  if (atCapacity !== undefined && !(Number.isFinite(atCapacity) && atCapacity > 0 && atCapacity <= 1)) {
    problems.push(`--at-capacity must be a fraction in (0, 1], like 0.5, got '${String(atCapacity)}'`);
  }

  let axis: Axis | undefined;
  try {
    const built = buildAxis({ dedup: args.dedup, aggregator: args.aggregator, vary: args.vary });
    axis = built.axis;
    problems.push(...built.problems);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    problems.push(...error.message.split('\nerror: '));
  }

  // The flags every variant shares, checked once: their problems are named once, not per variant.
  const common: string[] = [];
  if (args.scenario !== undefined) common.push(`--scenario=${args.scenario}`);
  for (const name of COMMON_FLAGS) {
    const value = args[name];
    if (value !== undefined) common.push(`--${name}=${String(value)}`);
  }
  for (const assignment of args.set ?? []) common.push(`--set=${String(assignment)}`);
  const benchProblems = async (benchArgv: string[]): Promise<{ parsed?: BenchArgs; problems: string[] }> => {
    try {
      const parsed = await parseBenchArgs(benchArgv);
      if (parsed === 'listed') throw new Error('unexpected --list');
      return { parsed, problems: [] };
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      return { problems: error.message.split('\nerror: ') };
    }
  };
  // With stores on the axis, the common flags are checked with a neutral store: whether a store
  // suits the sink (--sink postgres refuses the shared-SQLite store) is each variant's to say.
  const base = await benchProblems(axis?.flag === '--dedup' ? [...common, '--dedup=none'] : common);
  problems.push(...base.problems);
  const shared = new Set(base.problems);

  const variants: CompareVariantPlan[] = [];
  if (axis) {
    const slugs = uniqueSlugs(axis.variants.map((v) => v.name));
    for (const [i, variant] of axis.variants.entries()) {
      const benchArgv = [...common, ...variant.argv];
      const checked = await benchProblems(benchArgv);
      for (const problem of checked.problems.filter((p) => !shared.has(p))) {
        const named = variant.set_is_axis ? problem.replace(/^--set: /, '--vary: ') : problem;
        problems.push(`variant '${variant.name}' (${variant.label}): ${named}`);
      }
      if (checked.parsed) variants.push({ name: variant.name, slug: slugs[i]!, value: variant.value, aggregator: variant.aggregator, argv: benchArgv, bench: checked.parsed });
    }
  }
  if (atCapacity !== undefined && variants.some((v) => v.bench.scenario.load.model !== 'closed')) {
    problems.push("--at-capacity needs the capacity runs in the closed model: add --model closed (and --concurrency N); an open-model run's committed rate is its offered rate, not its capacity");
  }
  if (atCapacity !== undefined && axis && !axis.variants.some((v) => v.aggregator === 'reference')) {
    problems.push('--at-capacity: no variant has latency to measure (the bare subscriber commits nothing)');
  }
  if (problems.length > 0 || !axis || variants.length !== axis.variants.length) throw new UsageError(problems.join('\nerror: ') || 'bad arguments');

  const first = variants[0]!.bench.scenario;
  return {
    command: ['npm', 'run', 'compare', '--', ...argv].map(shellQuote).join(' '),
    scenario: first.name,
    seed: first.seed,
    axis: { flag: axis.flag, field: axis.field },
    variants,
    replicates,
    broker: args.broker,
    out_dir: resolve(args.out ?? join('reports', 'out', makeRunId(`compare-${first.name}`))),
    quiet: args.quiet,
    load: describeLoad(first),
    ...(atCapacity !== undefined ? { at_capacity: atCapacity } : {}),
  };
}

/**
 * The bench argv of a variant in the open model at `rate` ev/s: its own flags with the load model
 * replaced, and its warm-up phases (index → duration in s) at the same rate for at least
 * AT_CAPACITY_WARMUP_S. A warm-up at the scenario's own low rate followed by a step to thousands of
 * ev/s measured the step instead: the first 1–2 s of the measured phase queued for hundreds of ms
 * (publisher windows full, the generator late) and made p99 ten times the steady state's; 2 s at
 * ~10,000 ev/s from a cold start still left 2 s of catching up in the measured phase.
 */
export function atRateArgv(argv: readonly string[], rate: number, warmups: ReadonlyMap<number, number> = new Map()): string[] {
  const replaced = /^--(model|concurrency|rate)=/;
  return [
    ...argv.filter((arg) => !replaced.test(arg)),
    '--model=open',
    `--rate=${rate}`,
    ...[...warmups].flatMap(([i, seconds]) => [
      `--set=phases[${i}].rate=${rate}`,
      ...(seconds < AT_CAPACITY_WARMUP_S ? [`--set=phases[${i}].duration_s=${AT_CAPACITY_WARMUP_S}`] : []),
    ]),
  ];
}

/** Shortest warm-up of a run at a share of capacity (see atRateArgv). */
export const AT_CAPACITY_WARMUP_S = 5;

/**
 * Capacity per variant with latency (not the bare subscriber): the median committed ev/s of its
 * runs that completed; null when none did. The open-model rate is fraction × capacity, whole ev/s.
 */
export function capacityRates(report: Pick<CompareReport, 'variants' | 'runs'>, fraction: number): AtCapacity['rates'] {
  return summarizeVariants(report).flatMap((summary) => {
    const variant = report.variants.find((v) => v.name === summary.name)!;
    const capacity = summary.committed_per_s?.median;
    if (variant.aggregator !== 'reference' || capacity === undefined || capacity <= 0) return [];
    return [{ variant: variant.name, capacity_per_s: capacity, rate_per_s: Math.max(1, Math.round(fraction * capacity)) }];
  });
}

export interface CompareDeps {
  /** Makes one run: runScenario, or a stand-in in tests. */
  run?: (options: RunOptions) => Promise<RunResult>;
  /** One line per run and the plan (already formatted). */
  log?: (line: string) => void;
  /** The current run's own progress lines (on a terminal: one line updated in place). */
  progress?: (line: string) => void;
  /** Are the progress lines shown? If not, the runs skip the live p99 read of the sink (default: shown). */
  live?: boolean;
  now?: () => Date;
}

function runLine(run: CompareRun, total: number, replicates: number): string {
  const head = `[${String(run.order).padStart(String(total).length)}/${total}] ${run.variant} r${run.replicate}/${replicates}`;
  if (run.error !== null) return `${head}  error: ${run.error}`;
  const f = run.figures!;
  const p99 = f.p99_ms === null ? '—' : `${f.p99_ms.toFixed(f.p99_ms >= 100 ? 0 : 1)} ms`;
  const verdict = run.valid ? 'valid' : `INVALID: ${run.invalid_reasons.join('; ')}`;
  return `${head}  committed ${f.committed_per_s.toFixed(0)} ev/s  p99 ${p99}  ${verdict}`;
}

/**
 * Makes every run of the plan in the interleaved order, each into <out>/<slug>-r<k>/ (result.json and
 * the bench's report files), then writes compare.json and compare.md into <out>. A run that throws
 * is recorded as not completed and the comparison goes on.
 */
export async function runCompare(plan: ComparePlan, deps: CompareDeps = {}): Promise<{ report: CompareReport; exit: number }> {
  const run = deps.run ?? runScenario;
  const log = deps.log ?? (() => {});
  const now = deps.now ?? (() => new Date());
  const started = now();
  const schedule = interleave(plan.variants, plan.replicates);
  mkdirSync(plan.out_dir, { recursive: true });
  log(
    `chaosbench compare: ${plan.scenario} · ${plan.variants.length} variants by ${plan.axis.flag} (${plan.variants.map((v) => v.name).join(', ')}) × ${plan.replicates} replicates = ${schedule.length} runs, interleaved · ${plan.load} · seed ${plan.seed} · broker ${plan.broker} · out ${plan.out_dir}`,
  );
  const runs: CompareRun[] = [];
  let machine: CompareReport['machine'] = null;
  let gitSha = 'unknown';
  /** One run into outDir; a run that throws is recorded as not completed. */
  const runOne = async (
    variant: Pick<CompareVariantPlan, 'name' | 'aggregator' | 'bench'>,
    replicate: number,
    order: number,
    outDir: string,
    head: string,
  ): Promise<CompareRun> => {
    const base = { order, variant: variant.name, replicate, out_dir: outDir, aggregator: variant.aggregator };
    try {
      const result = await run({
        scenario: variant.bench.scenario,
        // The bench's own overrides, so that each run's report.md replays it with npm run bench.
        overrides: variant.bench.overrides,
        broker: variant.bench.broker,
        ...(variant.bench.broker_access ? { broker_access: variant.bench.broker_access } : {}),
        ...(variant.bench.sink !== undefined ? { sink: variant.bench.sink } : {}),
        out_dir: outDir,
        aggregator: variant.aggregator,
        progress: (line) => deps.progress?.(`${head}  ${line}`),
        live_latency: deps.live !== false,
      });
      writeResult(outDir, result);
      try {
        writeReportFiles(outDir, result);
      } catch (error) {
        log(`warning: ${head}: the report files could not be rendered (${(error as Error).message}); result.json is written`);
      }
      machine ??= result.machine;
      if (gitSha === 'unknown') gitSha = result.git_sha;
      return { ...base, run_id: result.run_id, valid: result.valid, invalid_reasons: result.invalid_reasons, passed: result.passed, error: null, figures: figuresOf(result) };
    } catch (error) {
      const message = (error as Error).message ?? String(error);
      return { ...base, run_id: null, valid: false, invalid_reasons: [`the run could not complete: ${message}`], passed: null, error: message, figures: null };
    }
  };
  for (const [i, { variant, replicate }] of schedule.entries()) {
    const head = `[${i + 1}/${schedule.length}] ${variant.name} r${replicate}/${plan.replicates}`;
    const entry = await runOne(variant, replicate, i + 1, join(plan.out_dir, `${variant.slug}-r${replicate}`), head);
    runs.push(entry);
    log(runLine(entry, schedule.length, plan.replicates));
  }

  let atCapacity: AtCapacity | undefined;
  if (plan.at_capacity !== undefined) {
    const fraction = plan.at_capacity;
    const variants = plan.variants.map((v) => ({ name: v.name, value: v.value, aggregator: v.aggregator }));
    const rates = capacityRates({ variants, runs }, fraction);
    const percent = `${(fraction * 100).toFixed(0)}%`;
    // Each variant at its own rate; parsed by the bench like any command line (a rate it refuses is an error of that variant).
    const staged: { plan: CompareVariantPlan; rate: number }[] = [];
    for (const rate of rates) {
      const variant = plan.variants.find((v) => v.name === rate.variant)!;
      const warmups = new Map(variant.bench.scenario.phases.flatMap((phase, i) => (phase.name === WARMUP_PHASE ? [[i, phase.duration_s] as const] : [])));
      const argv = atRateArgv(variant.argv, rate.rate_per_s, warmups);
      try {
        const bench = await parseBenchArgs(argv);
        if (bench === 'listed') throw new UsageError('unexpected --list');
        staged.push({ plan: { ...variant, argv, bench }, rate: rate.rate_per_s });
      } catch (error) {
        log(`warning: ${variant.name} at ${percent} of capacity (${rate.rate_per_s} ev/s) cannot run: ${(error as Error).message}`);
      }
    }
    for (const skipped of plan.variants.filter((v) => v.aggregator === 'reference' && !rates.some((r) => r.variant === v.name))) {
      log(`warning: ${skipped.name}: no capacity measured (no run completed), so no run at ${percent} of it`);
    }
    const second = interleave(staged, plan.replicates);
    const first = staged[0]?.plan.bench.scenario;
    atCapacity = {
      fraction,
      rates: rates.filter((r) => staged.some((s) => s.plan.name === r.variant)),
      load: first ? describeLoad(first).replace(/^(\S+) [^ ]+ for/, `$1 ${percent} of capacity for`) : MISSING_LOAD,
      runs: [],
    };
    if (second.length > 0) log(`then ${second.length} runs at ${percent} of each variant's own capacity, open model: ${staged.map((s) => `${s.plan.name} ${s.rate} ev/s`).join(', ')}`);
    for (const [i, { variant, replicate }] of second.entries()) {
      const order = schedule.length + i + 1;
      const total = schedule.length + second.length;
      const head = `[${order}/${total}] ${variant.plan.name} at ${percent} (${variant.rate} ev/s) r${replicate}/${plan.replicates}`;
      const entry = await runOne(variant.plan, replicate, order, join(plan.out_dir, `${variant.plan.slug}-at${Math.round(fraction * 100)}-r${replicate}`), head);
      atCapacity.runs.push(entry);
      log(runLine({ ...entry, variant: `${entry.variant} at ${percent}` }, total, plan.replicates));
    }
  }

  const report: CompareReport = {
    schema: COMPARE_SCHEMA,
    command: plan.command,
    scenario: plan.scenario,
    seed: plan.seed,
    replicates: plan.replicates,
    axis: plan.axis,
    variants: plan.variants.map((v) => ({ name: v.name, value: v.value, aggregator: v.aggregator })),
    load: plan.load,
    broker: plan.broker,
    machine,
    git_sha: gitSha,
    started_at: started.toISOString(),
    finished_at: now().toISOString(),
    runs,
    ...(atCapacity ? { at_capacity: atCapacity } : {}),
  };
  writeFileSync(join(plan.out_dir, 'compare.json'), `${JSON.stringify({ ...report, summary: summarizeVariants(report) }, null, 2)}\n`);
  writeFileSync(join(plan.out_dir, 'compare.md'), `${renderCompare(report)}\n`);
  const all = [...runs, ...(atCapacity?.runs ?? [])];
  return { report, exit: all.every((r) => r.valid) ? EXIT.ok : EXIT.invalid_run };
}

export async function main(argv: string[]): Promise<number> {
  let plan: ComparePlan | 'listed';
  try {
    plan = await parseCompareArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`error: ${error.message}\n\nRun with --help for the options.\n`);
    return EXIT.bad_input;
  }
  if (plan === 'listed') return EXIT.ok;
  const lines = progressWriter(process.stderr, { quiet: plan.quiet, offTerminal: 'drop' });
  const { report, exit } = await runCompare(plan, {
    live: process.stderr.isTTY === true && !plan.quiet,
    log: lines.log,
    progress: lines.progress,
  });
  process.stdout.write(`${renderCompareSummary(report)}\n\ncompare: ${join(plan.out_dir, 'compare.md')}\n`);
  return exit;
}

