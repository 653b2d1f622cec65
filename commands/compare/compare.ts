// `npm run compare`: one scenario, several variants along one axis (a dedup store, the bare
// subscriber, or any scenario field), each run --replicates times, interleaved A B C A B C … so that
// the machine's drift reaches every variant alike. Every variant is a typed change of the request
// the variants share (engine/resolve.ts resolves and validates each) before anything runs; the runs
// are the campaign runner's (commands/campaign/campaign.ts), and compare.json + compare.md + compare.html summarise
// them all. Exit codes: 0 every run valid · 1 some run lost events · 2 bad input · 3 some run invalid or not completed · 130/143 interrupted.
//
// Why it is over 450 lines: it is the command's planning alone, under its own functions — the axis
// and its variants (splitting values, unique names and directories, buildAxis, parseCompareArgs,
// ~250 lines) and the at-capacity second stage (atRate, capacityRates and its part of runCompare),
// which plans from the first stage's results. Running, directories and report files are the
// campaign runner's; rendering is reports/compare.ts's.

import { redactDeep, redactPasswords } from '../../aggregator/redact.ts';
import { join, resolve } from 'node:path';
import yargs from 'yargs';
import { parsePath, parseValue } from '../../scenarios/override.ts';
import { COMPARE_SCHEMA, renderCompare, renderCompareSummary, summarizeVariants, type AtCapacity, type CompareReport, type CompareRun, type CompareVariant } from '../../reports/compare.ts';
import { renderCompareHtml } from '../../reports/html.ts';
import { sanitizeFileName } from '../../reports/files.ts';
import { listScenarios, strictParser } from '../bench/bench.ts';
import { CampaignInterrupted, commandLine, runCampaignCommand, describeLoad, runCampaign, type CampaignArm, type CampaignDeps, type CampaignRun } from '../campaign/campaign.ts';
import { EXIT, UsageError } from '../../cli/exit.ts';
import { COMMON_FLAG_OPTIONS, COMMON_FLAGS, givenScenarioFlags, joinNegativeValues, parseSetFlags, splitList, type ScenarioFlagName } from '../../cli/flags.ts';
import { resolveRun, type FieldChange, type ResolvedRun, type RunRequest } from '../../engine/resolve.ts';
import { makeRunId, WARMUP_PHASE, type AggregatorKind, type RunOptions } from '../../engine/run.ts';
import type { RunResult } from '../../engine/result.ts';
import type { Scenario } from '../../scenarios/schema.ts';
import { makeDirectory, refuseUnwritableOutput, writeFileWhole } from '../../cli/output.ts';

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
  /** What this variant asks for (the shared request with its own change), and what it resolves to. */
  request: RunRequest;
  run: ResolvedRun;
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

/** One value of the axis: how it changes the request every variant shares (typed, as data). */
export interface AxisVariant {
  name: string;
  value: string;
  aggregator: AggregatorKind;
  /** Named flags of this variant (they win over the shared ones). */
  flags: Partial<Record<ScenarioFlagName, unknown>>;
  /** Field changes of this variant, applied after the shared --set. */
  changes: FieldChange[];
  /** The flag and value as the user would write them alone, for messages: --vary aggregator.batch_size=10. */
  label: string;
}

export interface Axis {
  flag: string;
  field: string;
  variants: AxisVariant[];
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
 * field (a dedup spec, a batch size) is the resolver's and the scenario validator's to say, per variant.
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
        ? { value, aggregator: 'none', flags: {}, changes: [], label: '--aggregator none' }
        : { value, aggregator: 'reference', flags: { dedup: value }, changes: [], label: `--dedup ${value}` },
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
      made.push({ value, aggregator: kind, flags: {}, changes: [], label: `--aggregator ${value}` });
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
    // Each value parsed as --set parses one; a problem of the field is named by --vary.
    made = values.map((value) => ({ value, aggregator: 'reference', flags: {}, changes: [{ path, value: parseValue(value), flag: 'vary' }], label: `--vary ${path}=${value}` }));
  }
  const unique = uniqueNames(names);
  return { axis: { flag, field, variants: made.map((v, i) => ({ ...v, name: unique[i]! })) }, problems };
}

/** The request of one variant: the shared one with the variant's own flags and changes after it. */
export function variantRequest(common: RunRequest, variant: Pick<AxisVariant, 'aggregator' | 'flags' | 'changes'>): RunRequest {
  return { ...common, aggregator: variant.aggregator, flags: { ...common.flags, ...variant.flags }, changes: [...common.changes, ...variant.changes] };
}

/** Parse and validate everything; throws a UsageError naming every problem at once. */
export async function parseCompareArgs(argv: string[]): Promise<ComparePlan | 'listed'> {
  const args = await strictParser(
    yargs(joinNegativeValues(argv))
      .scriptName('npm run compare --')
      .usage(
        'Run one scenario in several variants, each --replicates times, interleaved (A B C A B C …), and write compare.md, compare.html (charts) and compare.json.\n\n' +
          'Usage: $0 --scenario dup-storm --dedup memory,sqlite,none [options]\n\n' +
          'Exit codes: 0 every run valid · 1 some run lost events (events lost, never acked, never sent or doubled)\n2 bad input · 3 some run invalid or not completed · 130/143 interrupted by SIGINT/SIGTERM (the run under way stops and cleans up; no compare file is written)',
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
    listScenarios();
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

  // The request every variant shares, checked once: its problems are named once, not per variant.
  const set = parseSetFlags(args.set ?? []);
  const common: RunRequest = { scenario: args.scenario, flags: givenScenarioFlags(args, COMMON_FLAGS), changes: set.changes, broker: args.broker, broker_flags: { 'broker-ca': args['broker-ca'], 'broker-cert': args['broker-cert'], 'broker-key': args['broker-key'], 'mqtt-version': args['mqtt-version'] }, sink: args.sink, aggregator: 'reference' };
  const check = (request: RunRequest): { run?: ResolvedRun; problems: string[] } => {
    const resolved = resolveRun(request);
    return resolved.ok ? { run: resolved.run, problems: [] } : { problems: resolved.problems };
  };
  // With stores on the axis, the shared request is checked with a neutral store: whether a store
  // suits the sink (--sink postgres refuses the shared-SQLite store) is each variant's to say.
  const base = check(axis?.flag === '--dedup' ? { ...common, flags: { ...common.flags, dedup: 'none' } } : common);
  problems.push(...set.problems, ...base.problems);
  const shared = new Set(base.problems);

  const variants: CompareVariantPlan[] = [];
  if (axis) {
    const slugs = uniqueSlugs(axis.variants.map((v) => v.name));
    for (const [i, variant] of axis.variants.entries()) {
      const request = variantRequest(common, variant);
      const checked = check(request);
      for (const problem of checked.problems.filter((p) => !shared.has(p))) problems.push(`variant '${variant.name}' (${variant.label}): ${problem}`);
      if (checked.run) variants.push({ name: variant.name, slug: slugs[i]!, value: variant.value, aggregator: variant.aggregator, request, run: checked.run });
    }
  }
  if (atCapacity !== undefined && variants.some((v) => v.run.scenario.load.model !== 'closed')) {
    problems.push("--at-capacity needs the capacity runs in the closed model: add --model closed (and --concurrency N); an open-model run's committed rate is its offered rate, not its capacity");
  }
  if (atCapacity !== undefined && axis && !axis.variants.some((v) => v.aggregator === 'reference')) {
    problems.push('--at-capacity: no variant has latency to measure (the bare subscriber commits nothing)');
  }
  if (problems.length > 0 || !axis || variants.length !== axis.variants.length) throw new UsageError(problems.join('\nerror: ') || 'bad arguments');

  const first = variants[0]!.run.scenario;
  return {
    command: commandLine('compare', argv),
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
 * A variant's request in the open model at `rate` ev/s: its own flags with the load model replaced
 * (--model open --rate R, as the user would give them), and its warm-up phases (index → duration
 * in s) changed to the same rate for at least AT_CAPACITY_WARMUP_S. A warm-up at the scenario's own
 * low rate followed by a step to thousands of ev/s measured the step instead: the first 1–2 s of
 * the measured phase queued for hundreds of ms (publisher windows full, the generator late) and
 * made p99 ten times the steady state's; 2 s at ~10,000 ev/s from a cold start still left 2 s of
 * catching up in the measured phase.
 */
export function atRate(request: RunRequest, rate: number, warmups: ReadonlyMap<number, number> = new Map()): RunRequest {
  const replaced = new Set<string>(['model', 'concurrency', 'rate']);
  const kept = Object.fromEntries(Object.entries(request.flags).filter(([name]) => !replaced.has(name)));
  return {
    ...request,
    flags: { ...kept, model: 'open', rate: String(rate) },
    changes: [
      ...request.changes,
      ...[...warmups].flatMap(([i, seconds]) => [
        { path: `phases[${i}].rate`, value: rate },
        ...(seconds < AT_CAPACITY_WARMUP_S ? [{ path: `phases[${i}].duration_s`, value: AT_CAPACITY_WARMUP_S }] : []),
      ]),
    ],
  };
}

/** Shortest warm-up of a run at a share of capacity (see atRate). */
export const AT_CAPACITY_WARMUP_S = 5;

/** A scenario's warm-up phases, index → duration in s: what atRate moves to the new rate. */
export function warmupPhases(scenario: Pick<Scenario, 'phases'>): Map<number, number> {
  return new Map(scenario.phases.flatMap((phase, i) => (phase.name === WARMUP_PHASE ? [[i, phase.duration_s] as const] : [])));
}

/**
 * Capacity per variant with latency (by default; `include` picks others, e.g. perf's bare
 * subscriber too): the median committed ev/s of its runs that completed; none when none did. The
 * open-model rate is fraction × capacity, whole ev/s.
 */
export function capacityRates(report: Pick<CompareReport, 'variants' | 'runs'>, fraction: number, include: (variant: CompareVariant) => boolean = (v) => v.aggregator === 'reference'): AtCapacity['rates'] {
  return summarizeVariants(report).flatMap((summary) => {
    const variant = report.variants.find((v) => v.name === summary.name)!;
    const capacity = summary.committed_per_s?.median;
    if (!include(variant) || capacity === undefined || capacity <= 0) return [];
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
  /** SIGINT/SIGTERM (cli/interrupt.ts): the run under way stops and cleans up, no other starts, nothing more is written. */
  signal?: AbortSignal;
}

/** A run's line on stderr: "[3/6] memory r1/3  committed 998 ev/s  p99 31.2 ms  valid". */
export function runLine(run: CompareRun, total: number, replicates: number): string {
  const head = `[${String(run.order).padStart(String(total).length)}/${total}] ${run.variant} r${run.replicate}/${replicates}`;
  if (run.error !== null) return `${head}  error: ${run.error}`;
  const f = run.figures!;
  const p99 = f.p99_ms === null ? '—' : `${f.p99_ms.toFixed(f.p99_ms >= 100 ? 0 : 1)} ms`;
  const verdict = run.valid ? 'valid' : `INVALID: ${run.invalid_reasons.join('; ')}`;
  const lost = (run.lost_events ?? []).length > 0 ? `LOST EVENTS: ${run.lost_events!.join(', ')}  ` : '';
  return `${head}  committed ${f.committed_per_s.toFixed(0)} ev/s  p99 ${p99}  ${lost}${verdict}`;
}

/** A variant as an arm of the campaign: its runs go to <slug>-r<k> (the second stage's to <slug>-at<percent>-r<k>). */
interface VariantArm extends CampaignArm {
  variant: CompareVariantPlan;
}

/** A run of the campaign as compare.json records it. */
function compareRun(run: CampaignRun<VariantArm>): CompareRun {
  const { order, replicate, out_dir, run_id, valid, invalid_reasons, passed, lost_events, error, figures } = run;
  return { order, variant: run.arm.variant.name, replicate, out_dir, aggregator: run.arm.variant.aggregator, run_id, valid, invalid_reasons, passed, lost_events, error, figures };
}

/**
 * Makes every run of the plan in the interleaved order, each into <out>/<slug>-r<k>/ (the campaign
 * runner's), then, with --at-capacity, every variant with latency again at its share of its own
 * capacity; writes compare.json, compare.md and compare.html into <out>. A run that throws is recorded as not
 * completed and the comparison goes on.
 */
export async function runCompare(plan: ComparePlan, deps: CompareDeps = {}): Promise<{ report: CompareReport; exit: number }> {
  const log = deps.log ?? (() => {});
  const now = deps.now ?? (() => new Date());
  const started = now();
  const total = plan.variants.length * plan.replicates;
  makeDirectory(plan.out_dir);
  log(
    `chaosbench compare: ${plan.scenario} · ${plan.variants.length} variants by ${plan.axis.flag} (${plan.variants.map((v) => v.name).join(', ')}) × ${plan.replicates} replicates = ${total} runs, interleaved · ${plan.load} · seed ${plan.seed} · broker ${plan.broker} · out ${plan.out_dir}`,
  );
  const campaignDeps: CampaignDeps<VariantArm> = { run: deps.run, progress: deps.progress, warn: log, live: deps.live, ...(deps.signal ? { signal: deps.signal } : {}) };
  const main = await runCampaign(
    { arms: plan.variants.map((variant) => ({ label: variant.name, dir: variant.slug, run: variant.run, variant })), replicates: plan.replicates, out_dir: plan.out_dir },
    { ...campaignDeps, done: (run) => log(runLine(compareRun(run), total, plan.replicates)) },
  );
  const runs = main.runs.map(compareRun);
  let machine = main.machine;
  let gitSha = main.git_sha;

  let atCapacity: AtCapacity | undefined;
  const stopped = (made: number, count: number) => new CampaignInterrupted(String(deps.signal!.reason), made, count, 'compare.md', plan.out_dir);
  if (main.interrupted !== undefined) throw stopped(runs.length, total * (plan.at_capacity === undefined ? 1 : 2));
  if (plan.at_capacity !== undefined) {
    const fraction = plan.at_capacity;
    const variants = plan.variants.map((v) => ({ name: v.name, value: v.value, aggregator: v.aggregator }));
    const rates = capacityRates({ variants, runs }, fraction);
    const percent = `${(fraction * 100).toFixed(0)}%`;
    // Each variant at its own rate, resolved like any request (a rate it refuses is an error of that variant).
    const staged: { variant: CompareVariantPlan; rate: number }[] = [];
    for (const rate of rates) {
      const variant = plan.variants.find((v) => v.name === rate.variant)!;
      const request = atRate(variant.request, rate.rate_per_s, warmupPhases(variant.run.scenario));
      const resolved = resolveRun(request);
      if (resolved.ok) staged.push({ variant: { ...variant, request, run: resolved.run }, rate: rate.rate_per_s });
      else log(`warning: ${variant.name} at ${percent} of capacity (${rate.rate_per_s} ev/s) cannot run: ${resolved.problems.join('\nerror: ')}`);
    }
    for (const skipped of plan.variants.filter((v) => v.aggregator === 'reference' && !rates.some((r) => r.variant === v.name))) {
      log(`warning: ${skipped.name}: no capacity measured (no run completed), so no run at ${percent} of it`);
    }
    const count = staged.length * plan.replicates;
    const first = staged[0]?.variant.run.scenario;
    atCapacity = {
      fraction,
      rates: rates.filter((r) => staged.some((s) => s.variant.name === r.variant)),
      load: first ? describeLoad(first).replace(/^(\S+) [^ ]+ for/, `$1 ${percent} of capacity for`) : MISSING_LOAD,
      runs: [],
    };
    if (count > 0) log(`then ${count} runs at ${percent} of each variant's own capacity, open model: ${staged.map((s) => `${s.variant.name} ${s.rate} ev/s`).join(', ')}`);
    const second = await runCampaign(
      {
        arms: staged.map(({ variant, rate }) => ({ label: `${variant.name} at ${percent} (${rate} ev/s)`, dir: `${variant.slug}-at${Math.round(fraction * 100)}`, run: variant.run, variant })),
        replicates: plan.replicates,
        out_dir: plan.out_dir,
        numbering: { first: total + 1, total: total + count },
      },
      { ...campaignDeps, done: (run) => log(runLine({ ...compareRun(run), variant: `${run.arm.variant.name} at ${percent}` }, total + count, plan.replicates)) },
    );
    atCapacity.runs = second.runs.map(compareRun);
    if (second.interrupted !== undefined) throw stopped(total + second.runs.length, total + count);
    machine ??= second.machine;
    gitSha ??= second.git_sha;
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
    git_sha: gitSha ?? 'unknown',
    started_at: started.toISOString(),
    finished_at: now().toISOString(),
    runs,
    ...(atCapacity ? { at_capacity: atCapacity } : {}),
  };
  // Nothing in it should carry a password (flags with one are refused, results are redacted): *** all the same.
  writeFileWhole(join(plan.out_dir, 'compare.json'), `${JSON.stringify(redactDeep({ ...report, summary: summarizeVariants(report) }), null, 2)}\n`);
  writeFileWhole(join(plan.out_dir, 'compare.md'), `${redactPasswords(renderCompare(report))}\n`);
  writeFileWhole(join(plan.out_dir, 'compare.html'), redactPasswords(renderCompareHtml(report)));
  const all = [...runs, ...(atCapacity?.runs ?? [])];
  // As for one run: lost events fail the comparison (exit 1), before any invalid run (exit 3).
  const exit = all.some((r) => (r.lost_events ?? []).length > 0) ? EXIT.check_failed : all.every((r) => r.valid) ? EXIT.ok : EXIT.invalid_run;
  return { report, exit };
}

export async function main(argv: string[]): Promise<number> {
  let plan: ComparePlan | 'listed';
  try {
    plan = await parseCompareArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`error: ${redactPasswords(error.message)}\n\nRun with --help for the options.\n`);
    return EXIT.bad_input;
  }
  if (plan === 'listed') return EXIT.ok;
  if (refuseUnwritableOutput(plan.out_dir)) return EXIT.bad_input;
  // Interrupted: the comparison is not made, so nothing of it is written (the runs' own files are whole).
  const ran = await runCampaignCommand(plan.quiet, 'the comparison', (deps) => runCompare(plan, { ...deps, live: process.stderr.isTTY === true && !plan.quiet }));
  if ('exit' in ran) return ran.exit;
  const { report, exit } = ran.outcome;
  process.stdout.write(`${renderCompareSummary(report)}\n\ncompare: ${join(plan.out_dir, 'compare.md')}\n`);
  return exit;
}

