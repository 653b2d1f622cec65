// perf.json and the tables `npm run perf` prints: capacity of the bare subscriber and of the
// reference aggregator with each dedup store (closed model), the generator's own capacity and its
// CPU at a fixed rate, each with CPU µs per message of every process; then each capacity variant's
// p99 and CPU per message in the open model at a share of its own capacity; every capacity
// variant's CPU per message, process by process, at one and the same rate; and the issue-19
// targets, each met or not. Pure: rendered from perf.json alone (the runs' figures, engine/figures.ts).

import type { RunResult } from '../engine/result.ts';
import { ratio, summarize, type Summary } from '../commands/campaign/summary.ts';
import { countStartup, cpuBasis, cpuColumns, escapeCell, microseconds, ms, range, summarizeVariants, table, type AtCapacity, type CompareRun, type VariantSummary } from './compare.ts';
import { HARNESS_ALL_THREADS } from '../engine/figures.ts';
import { HARNESS_MAIN_THREAD, isHarnessThread } from '../engine/metrics/process-cpu.ts';
import { HARNESS_BOUND_PREFIX, HARNESS_BOUND_SHARE } from '../engine/result-assembly.ts';

export const PERF_SCHEMA = 'chaosbench.perf/v1';

/** What a variant of the benchmark measures. */
export type PerfKind = 'capacity' | 'generator-capacity' | 'generator-rate';

export interface PerfVariant {
  name: string;
  /** In words, for the table: "reference aggregator, memory dedup, closed model". */
  what: string;
  kind: PerfKind;
  aggregator: 'reference' | 'none';
  /**
   * A generator-capacity variant: what the generator publishes through, in words ("the relay and the
   * bare subscriber"), so that its capacity target says what it was measured against. Absent in a
   * perf.json written before it existed (its target line then names the variant).
   */
  against?: string;
  /**
   * A generator-capacity variant whose figure is reported beside the target, not judged by it, and
   * why, in words (Mosquitto's: its ceiling, not the generator's). Absent: judged.
   */
  reported?: string;
  /**
   * A capacity variant: the bare subscriber variant its "× bare" ratios are over, the one on the same
   * broker ('bare-relay' for the variants through the relay). Absent: 'bare'.
   */
  baseline?: string;
}

export interface PerfReport {
  schema: typeof PERF_SCHEMA;
  command: string;
  replicates: number;
  /** The measured phase of every run (s), warm-up apart. */
  duration_s: number;
  /** Events in flight in the closed-model runs of the capacity variants. */
  concurrency: number;
  /** Events in flight in the generator-capacity variants; absent in a perf.json written before it was their own (then `concurrency`). */
  generator_concurrency?: number;
  /** The open-model rate of the generator-rate variant (ev/s). */
  generator_rate: number;
  variants: PerfVariant[];
  runs: CompareRun[];
  machine: RunResult['machine'] | null;
  git_sha: string;
  started_at: string;
  finished_at: string;
  /** The second pass (--at-capacity F): absent when it was off, or in a perf.json written before it existed. */
  at_capacity?: PerfAtCapacity;
  /** The third pass (--cost-rate): absent when it was off, found no rate, or in a perf.json written before it existed. */
  at_rate?: PerfAtRate;
}

/**
 * The third pass of `npm run perf`: every capacity variant in the open model at one and the same
 * rate, --replicates rounds, interleaved: what each costs per message, process by process, for the
 * same work (issue 19's table). `basis`: how the rate was chosen, in words.
 */
export interface PerfAtRate {
  rate_per_s: number;
  basis: string;
  /** The variants that ran, in plan order. */
  variants: string[];
  runs: CompareRun[];
  skipped: { variant: string; reason: string }[];
}

/**
 * The second pass of `npm run perf`: each capacity variant (the bare subscriber too) again in the
 * open model at F × its median committed ev/s of the capacity pass, --replicates rounds,
 * interleaved: p99 at that load, and CPU per message at a fixed rate. `rates` holds the variants that
 * ran, `skipped` the capacity variants that did not, and why; `runs` every run of the pass.
 */
export interface PerfAtCapacity extends Omit<AtCapacity, 'load'> {
  skipped: { variant: string; reason: string }[];
}

/** One target of issue 19 and where this benchmark stands: null when its variants were not run (or measured nothing). */
export interface PerfTarget {
  name: string;
  value: number | null;
  /** The bound, as text: "≤ 10 µs", "≥ 0.90". */
  bound: string;
  met: boolean | null;
  /** The value as printed ("31.5 µs", "0.7496"): digits enough to fall on the same side of the bound as the value; null when not measured. */
  shown: string | null;
  /** How the value is made, in words. */
  how: string;
}

/**
 * `value` with `digits` decimals, or as many more as it takes for the printed figure to be judged as
 * the value is (0.7496 against ≥ 0.75 prints 0.7496, not 0.75 beside NOT MET). Pure.
 */
export function agreeingFigure(value: number, digits: number, ok: (v: number) => boolean): string {
  for (let d = digits; d <= 12; d++) {
    const text = value.toFixed(d);
    if (ok(Number(text)) === ok(value)) return text;
  }
  return String(value);
}

/** A target's value judged: met or not, and printed so that the figure and the verdict agree. */
function judged(value: number | null, ok: ((v: number) => boolean) | null, digits: number, unit = ''): Pick<PerfTarget, 'value' | 'met' | 'shown'> {
  if (value === null) return { value, met: null, shown: null };
  return { value, met: ok === null ? null : ok(value), shown: `${ok === null ? value.toFixed(digits) : agreeingFigure(value, digits, ok)}${unit}` };
}

/** The variant the aggregator ratios are to, and the one the generator's capacity is held against. */
export const BARE = 'bare';
export const REFERENCE_FOR_GENERATOR = 'memory';

/** The targets of issue 19, as data: which figure, which bound. */
const RATIO_TARGETS: { variant: string; min: number | null }[] = [
  { variant: 'memory', min: 0.9 },
  { variant: 'redis', min: 0.75 },
  { variant: 'sqlite', min: null },
  { variant: 'postgres', min: null },
];
const GENERATOR_US_MAX = 10;
const GENERATOR_OVER_AGGREGATOR_MIN = 2;

function summaries(report: PerfReport): VariantSummary[] {
  return summarizeVariants({ variants: report.variants.map((v) => ({ name: v.name, value: v.name, aggregator: v.aggregator })), runs: report.runs });
}

/** The bare subscriber variant `variant`'s ratios are over (itself for a bare one), or undefined for a variant without. */
function baselineOf(report: PerfReport, name: string): string | undefined {
  const variant = report.variants.find((v) => v.name === name);
  return variant?.kind === 'capacity' ? (variant.baseline ?? BARE) : undefined;
}

/**
 * Per round, the variant's committed ev/s over its baseline's in the same round (replicate); null
 * when the baseline did not run (never a ratio over some other variant). Medians [min–max].
 */
function perRoundOverBaseline(report: PerfReport, name: string): Summary | null {
  const baseline = baselineOf(report, name);
  if (baseline === undefined || baseline === name) return null;
  const committed = (variant: string, replicate: number) => report.runs.find((r) => r.variant === variant && r.replicate === replicate)?.figures?.committed_per_s;
  return summarize(report.runs.filter((r) => r.variant === name).map((r) => ratio(r.figures?.committed_per_s, committed(baseline, r.replicate))));
}

/**
 * The process (or thread) of a variant's runs that used the most CPU, in cores: its µs per message ×
 * the messages per second the run carried (committed events ÷ (1 − the copies' share of all
 * deliveries)) ÷ 10⁶, median over the runs. An estimate (the µs are while the load ran, warm-up
 * included, where the run records it, else from the schedule's start or over the whole run; the rate
 * is the measured phase's), there to show which process is the
 * bound: near 1, a single-threaded process (the embedded Aedes, the aggregator's main thread) is
 * saturated. Null when no run measured CPU. The harness process as a whole is left out (its threads
 * have rows of their own).
 */
export function busiestProcess(report: PerfReport, name: string): { role: string; cores: Summary } | null {
  const byRole = new Map<string, number[]>();
  for (const run of report.runs) {
    const figures = run.figures;
    if (run.variant !== name || !figures?.cpu_us_per_message) continue;
    if (!(figures.committed_per_s > 0) || !(figures.duplicate_rate >= 0 && figures.duplicate_rate < 1)) continue;
    const messagesPerS = figures.committed_per_s / (1 - figures.duplicate_rate);
    for (const [role, us] of Object.entries(figures.cpu_us_per_message_during_load ?? figures.cpu_us_per_message)) {
      if (role === HARNESS_ALL_THREADS) continue;
      const cores = byRole.get(role) ?? [];
      cores.push((us * messagesPerS) / 1e6);
      byRole.set(role, cores);
    }
  }
  let busiest: { role: string; cores: Summary } | null = null;
  for (const [role, values] of byRole) {
    const cores = summarize(values);
    if (cores && (busiest === null || cores.median > busiest.cores.median)) busiest = { role, cores };
  }
  return busiest;
}

/**
 * The generator's CPU µs per message, per run of a variant: its load worker threads' and the
 * harness main thread's, summed (a run that did not measure the main thread is left out).
 */
function generatorUs(report: PerfReport, variant: string): Summary | null {
  const values = report.runs
    .filter((r) => r.variant === variant && r.figures?.cpu_us_per_message?.[HARNESS_MAIN_THREAD] !== undefined)
    .map((r) => Object.entries(r.figures!.cpu_us_per_message!).filter(([role]) => isHarnessThread(role)).reduce((sum, [, us]) => sum + us, 0));
  return summarize(values);
}

/** Whether a variant's CPU figures count start-up, in a few words for its target line. */
function startupWords(report: PerfReport, variant: string | undefined): string {
  const { measured, withStartup } = countStartup(report.runs.filter((r) => r.variant === variant));
  return withStartup === 0 ? 'from the start of the load schedule (start-up left out)' : withStartup === measured ? 'over the whole run (start-up included)' : `start-up included in ${withStartup} of ${measured} runs`;
}

/** Where the run stands against each target of issue 19. Pure. */
export function perfTargets(report: PerfReport): PerfTarget[] {
  const all = summaries(report);
  const of = (name: string) => all.find((s) => s.name === name && s.runs > s.errored);
  // One line per generator-rate variant (the default wake-up interval, then any other), the first
  // named plainly: a variant that did not run is "not measured".
  const rateVariants = report.variants.filter((v) => v.kind === 'generator-rate');
  // One line per generator-capacity variant too (the relay's first, then Mosquitto's), each saying
  // what the generator published through: the ratio means nothing without it.
  const capacityVariants = report.variants.filter((v) => v.kind === 'generator-capacity');
  const aggregatorCapacity = of(REFERENCE_FOR_GENERATOR)?.committed_per_s?.median;
  const rateName = `generator CPU per message at ${report.generator_rate.toLocaleString('en-US')} ev/s`;
  return [
    ...(rateVariants.length === 0 ? [undefined] : rateVariants).map((variant, i) => ({
      name: i === 0 ? rateName : `${rateName} (${variant!.name})`,
      bound: `≤ ${GENERATOR_US_MAX} µs`,
      ...judged((variant ? generatorUs(report, variant.name) : null)?.median ?? null, (v) => v <= GENERATOR_US_MAX, 1, ' µs'),
      how: `the load worker threads' and the ${HARNESS_MAIN_THREAD}'s CPU µs per message, summed (main thread + workers together), ${startupWords(report, variant?.name)}, median of the runs${variant ? ` of ${variant.name}` : ''}`,
    })),
    ...(capacityVariants.length === 0 ? [undefined] : capacityVariants).map((variant) => {
      const generatorCapacity = variant ? of(variant.name)?.committed_per_s?.median : undefined;
      const over = generatorCapacity !== undefined && aggregatorCapacity ? generatorCapacity / aggregatorCapacity : null;
      const against = variant ? ` (${variant.name}: ${variant.against ? `against ${variant.against}` : variant.what})` : '';
      return {
        name: `generator capacity${against} ÷ reference aggregator capacity (${REFERENCE_FOR_GENERATOR} dedup)`,
        bound: variant?.reported ? `reported: ${variant.reported}` : `≥ ${GENERATOR_OVER_AGGREGATOR_MIN}`,
        ...judged(over, variant?.reported ? null : (v) => v >= GENERATOR_OVER_AGGREGATOR_MIN, 2),
        how: `ratio of the medians of committed ev/s${variant ? ` of ${variant.name} and ${REFERENCE_FOR_GENERATOR}${harnessBoundWords(report, variant)}` : ''}`,
      };
    }),
    ...RATIO_TARGETS.map(({ variant, min }) => ({
      name: `${variant} dedup capacity ÷ bare subscriber capacity`,
      bound: min === null ? 'reported' : `≥ ${min.toFixed(2)}`,
      ...judged(of(variant) ? (perRoundOverBaseline(report, variant)?.median ?? null) : null, min === null ? null : (v) => v >= min, 2),
      how: 'per round (each replicate over the bare subscriber\'s of the same round), median of the rounds',
    })),
  ];
}

/**
 * The harness's share of the CPU while the load ran: the harness process (every thread) over it plus
 * every other process the run measured (broker, consumer), per run, median [min–max]. What the
 * generator takes from what it measures (issue 19's title). Null when no run split the load off.
 * Servers the run did not start (Redis, PostgreSQL) are not in it.
 */
export function harnessShare(report: PerfReport, name: string): Summary | null {
  return summarize(
    report.runs
      .filter((r) => r.variant === name && r.figures?.cpu_us_per_message_during_load)
      .map((r) => {
        const byRole = r.figures!.cpu_us_per_message_during_load!;
        const harness = byRole[HARNESS_ALL_THREADS];
        const others = Object.entries(byRole).filter(([role]) => role !== HARNESS_ALL_THREADS && !isHarnessThread(role)).reduce((sum, [, us]) => sum + us, 0);
        return harness === undefined || harness + others <= 0 ? null : harness / (harness + others);
      }),
  );
}

/** The share of the load's wall time the busiest harness thread had work (running or waiting for a core), per run of a variant. */
export function harnessBusy(report: PerfReport, name: string): Summary | null {
  return summarize(busyShares(report, name));
}

/** Each run's harness_busy_share, of the runs of a variant that record it. */
const busyShares = (report: PerfReport, name: string): number[] => report.runs.filter((r) => r.variant === name && r.figures?.harness_busy_share !== undefined).map((r) => r.figures!.harness_busy_share!);

/** A single-threaded process at this many cores or more (median of the runs, an estimate) was the bound of its variant. */
const SATURATED_CORES = 0.9;

/**
 * Was the harness the bound of a generator-capacity variant's runs, in words for its target line: in
 * every run its figure is the generator's ceiling on this machine; in none, a lower bound of it
 * (something else set the pace: the closed model's round trip, the relay, the subscriber).
 */
function harnessBoundWords(report: PerfReport, variant: PerfVariant): string {
  const shares = busyShares(report, variant.name);
  if (shares.length === 0) return '';
  const bound = shares.filter((v) => v >= HARNESS_BOUND_SHARE).length;
  const one = shares.length === 1;
  if (bound === shares.length) return `; the harness was the bound in ${one ? 'its one run' : `all ${shares.length} runs`} (its busiest thread had work ${percent(HARNESS_BOUND_SHARE)} of the time or more): the generator's ceiling on this machine`;
  if (bound === 0) return `; the harness was not the bound in ${one ? 'its one run' : `any of its ${shares.length} runs`} (its busiest thread had work at most ${percent(Math.max(...shares))} of the time), so this is a lower bound of the generator's capacity${paceSetter(report, variant)}`;
  return `; the harness was the bound in ${bound} of its ${shares.length} runs`;
}

/**
 * What set a generator-capacity variant's pace when the harness did not, in words: a process other
 * than the harness at about a core; else, for a judged variant, the closed model's round trip (more
 * in flight lifts it; no number in flight lifts a reported variant's broker ceiling).
 */
function paceSetter(report: PerfReport, variant: PerfVariant): string {
  const busiest = busiestProcess(report, variant.name);
  if (busiest !== null && !isHarnessThread(busiest.role) && busiest.cores.median >= SATURATED_CORES) return `: the ${busiest.role} was at ${busiest.cores.median.toFixed(2)} cores, its ceiling`;
  return variant.reported ? '' : ' (more in flight: --generator-concurrency)';
}

const times = (v: number) => `${v.toFixed(2)}×`;

function busiestCell(report: PerfReport, name: string): string {
  const busiest = busiestProcess(report, name);
  return busiest === null ? '—' : `${escapeCell(busiest.role)} ${range(busiest.cores, (v) => v.toFixed(2))}`;
}

/** The one table: per variant its capacity, ratio to the bare subscriber and CPU µs per message of each process. Pure. */
export function perfTable(report: PerfReport): string {
  const all = summaries(report);
  const columns = cpuColumns(all);
  return table(
    ['variant', 'what', 'valid runs', 'committed ev/s median [min–max]', '× bare (medians)', '× bare per round median [min–max]', ...columns.header, 'busiest process ≈ cores', "harness's share of the CPU while the load ran", "harness's busiest thread had work"],
    all.map((s) => {
      const variant = report.variants.find((v) => v.name === s.name)!;
      // Each capacity variant over the bare subscriber on its own broker (baselineOf), never another's.
      const baselineName = baselineOf(report, s.name);
      const bare = all.find((b) => b.name === baselineName);
      const isBaseline = baselineName === s.name;
      const againstBare = bare !== undefined && !isBaseline;
      const ofMedians = againstBare && s.committed_per_s && bare.committed_per_s ? times(s.committed_per_s.median / bare.committed_per_s.median) : '—';
      return [
        `${s.valid < s.runs ? '⚠ ' : ''}${escapeCell(s.name)}`,
        escapeCell(variant.what),
        `${s.valid}/${s.runs}`,
        range(s.committed_per_s, (v) => v.toFixed(0)),
        isBaseline ? '1.00×' : ofMedians,
        againstBare ? range(perRoundOverBaseline(report, s.name), times) : '—',
        ...columns.cells(s),
        busiestCell(report, s.name),
        range(harnessShare(report, s.name), percent),
        range(harnessBusy(report, s.name), percent),
      ];
    }),
  );
}

/** A share of capacity as text: 0.5 → "50%". */
export const percent = (fraction: number) => `${Number((fraction * 100).toFixed(1))}%`;

/**
 * The second table (--at-capacity F): per capacity variant, the open-model rate it ran at (F × its
 * capacity above), its valid runs, p99 median [min–max] and CPU µs per message of every process at
 * that rate; a variant that did not run there says why in its rate cell. Null when the pass was off. Pure.
 */
export function perfAtCapacityTable(report: PerfReport): string | null {
  const at = report.at_capacity;
  if (!at) return null;
  const listed = report.variants.filter((v) => at.rates.some((r) => r.variant === v.name) || at.skipped.some((k) => k.variant === v.name));
  const all = summarizeVariants({ variants: listed.map((v) => ({ name: v.name, value: v.name, aggregator: v.aggregator })), runs: at.runs });
  const columns = cpuColumns(all);
  return table(
    ['variant', `rate ev/s (${percent(at.fraction)} of capacity)`, 'valid runs', 'p99 ms median [min–max]', ...columns.header],
    all.map((s) => {
      const rate = at.rates.find((r) => r.variant === s.name);
      if (!rate) return [escapeCell(s.name), `not run: ${escapeCell(at.skipped.find((k) => k.variant === s.name)!.reason)}`, '—', '—', ...columns.header.map(() => '—')];
      return [`${s.valid < s.runs ? '⚠ ' : ''}${escapeCell(s.name)}`, `${rate.rate_per_s} (of ${rate.capacity_per_s.toFixed(0)})`, `${s.valid}/${s.runs}`, range(s.p99_ms, ms), ...columns.cells(s)];
    }),
  );
}

/** The consumer's role in a run's CPU figures: the bare subscriber, the reference aggregator or a user's target. */
const CONSUMER_ROLES = ['bare subscriber', 'aggregator', 'target'];

/**
 * The rows of the one-rate table: each process (or thread) of the runs, the consumer's under one
 * name whatever it is, and every process the run started together (the harness with all its
 * threads, the broker, the consumer). Per run: a role → µs getter.
 */
function costRows(runs: readonly CompareRun[]): { name: string; of: (cpu: Record<string, number>) => number | undefined }[] {
  const roles = [...new Set(runs.flatMap((r) => Object.keys(r.figures?.cpu_us_per_message ?? {})))];
  const consumer = (cpu: Record<string, number>) => CONSUMER_ROLES.map((role) => cpu[role]).find((v) => v !== undefined);
  const threads = roles.filter(isHarnessThread).sort((a, b) => (a === HARNESS_MAIN_THREAD ? -1 : b === HARNESS_MAIN_THREAD ? 1 : a.localeCompare(b, 'en', { numeric: true })));
  const others = roles.filter((r) => !threads.includes(r) && r !== HARNESS_ALL_THREADS && r !== 'broker' && !CONSUMER_ROLES.includes(r)).sort();
  return [
    ...threads.map((role) => ({ name: role, of: (cpu: Record<string, number>) => cpu[role] })),
    { name: 'harness (main + load workers + V8\'s threads)', of: (cpu) => cpu[HARNESS_ALL_THREADS] },
    { name: 'broker', of: (cpu) => cpu['broker'] },
    { name: 'subscriber or aggregator', of: consumer },
    ...others.map((role) => ({ name: role, of: (cpu: Record<string, number>) => cpu[role] })),
    {
      name: '**all processes**',
      of: (cpu) => {
        const parts = [cpu[HARNESS_ALL_THREADS], cpu['broker'], consumer(cpu)];
        return parts.every((v) => v !== undefined) ? parts.reduce((a, b) => a! + b!, 0) : undefined;
      },
    },
  ];
}

/**
 * The third table (--cost-rate): one column per variant, one row per process, CPU µs per message
 * median [min–max] at one and the same open-model rate; then committed ev/s and p99. Variants that
 * did not run are named below it. Null when the pass did not run. Pure.
 */
export function perfCostTable(report: PerfReport): string | null {
  const at = report.at_rate;
  if (!at || at.variants.length === 0) return null;
  const runsOf = (variant: string) => at.runs.filter((r) => r.variant === variant && r.figures);
  const cell = (values: (number | null | undefined)[], format: (v: number) => string) => range(summarize(values), format);
  const rows = costRows(at.runs).map(({ name, of }) => [name, ...at.variants.map((v) => cell(runsOf(v).map((r) => of(r.figures!.cpu_us_per_message ?? {})), microseconds))]);
  const all = (v: string) => at.runs.filter((r) => r.variant === v);
  const valid = (v: string) => `${all(v).filter((r) => r.valid).length}/${all(v).length}`;
  return table(
    [`CPU µs per message at ${at.rate_per_s} ev/s`, ...at.variants.map((v) => `${all(v).every((r) => r.valid) ? '' : '⚠ '}${escapeCell(v)}`)],
    [
      ...rows,
      ['committed ev/s', ...at.variants.map((v) => cell(runsOf(v).map((r) => r.figures!.committed_per_s), (x) => x.toFixed(0)))],
      ['p99 ms (end to end)', ...at.variants.map((v) => cell(runsOf(v).map((r) => r.figures!.p99_ms), ms))],
      ['valid runs', ...at.variants.map(valid)],
    ],
  );
}

/** The target lines, one each: value, bound, met / not met / not measured. Pure. */
export function perfTargetLines(report: PerfReport): string[] {
  return perfTargets(report).map((t) => {
    const value = t.shown ?? 'not measured';
    const verdict = t.met === null ? (t.value === null ? '' : ' — reported') : t.met ? ' — met' : ' — NOT MET';
    return `- ${t.name}: ${value} (target ${t.bound})${verdict}; ${t.how}`;
  });
}

/** The generator-capacity variants' events in flight, when they ran and had their own number. */
function generatorInFlight(report: PerfReport): string {
  const own = report.generator_concurrency;
  if (own === undefined || own === report.concurrency || !report.variants.some((v) => v.kind === 'generator-capacity')) return '';
  return ` (${own} in the generator-capacity variants, so that the generator, not the closed model's round trip, sets their pace)`;
}

/** An invalid run of a generator-capacity variant whose only reason is that the harness was the bound: what it is there to measure. */
function expectedBound(report: PerfReport, run: { variant: string; invalid_reasons: string[] }): boolean {
  const kind = report.variants.find((v) => v.name === run.variant)?.kind;
  return kind === 'generator-capacity' && run.invalid_reasons.length > 0 && run.invalid_reasons.every((reason) => reason.startsWith(HARNESS_BOUND_PREFIX));
}

/** What `npm run perf` prints and perf.md holds. Pure. */
export function renderPerf(report: PerfReport): string {
  const m = report.machine;
  const at = report.at_capacity;
  const atTable = perfAtCapacityTable(report);
  const one = report.at_rate;
  const costTable = perfCostTable(report);
  const invalid = [
    ...report.runs,
    ...(at?.runs ?? []).map((r) => ({ ...r, variant: `${r.variant} at ${percent(at!.fraction)}` })),
    ...(one?.runs ?? []).map((r) => ({ ...r, variant: `${r.variant} at ${one!.rate_per_s} ev/s` })),
  ].filter((r) => !r.valid);
  return [
    `# chaosbench perf`,
    '',
    '```sh',
    report.command,
    '```',
    '',
    `- ${report.variants.length} variants × ${report.replicates} replicate${report.replicates === 1 ? '' : 's'}, interleaved; dup-storm (30% duplicate copies), ${report.duration_s} s measured per run after its warm-up; closed model with ${report.concurrency} events in flight${generatorInFlight(report)}, but the generator-rate variant (open model, ${report.generator_rate} ev/s)${at ? `; then ${at.rates.length} capacity variant${at.rates.length === 1 ? '' : 's'} × ${report.replicates} again at ${percent(at.fraction)} of ${at.rates.length === 1 ? 'its' : 'their'} capacity (open model)` : ''}${one ? `; then ${one.variants.length} × ${report.replicates} at one rate, ${one.rate_per_s} ev/s (open model)` : ''}`,
    `- machine: ${m ? `${escapeCell(m.cpu_model)} × ${m.cpus} · node ${m.node}` : 'unknown (no run completed)'} · git ${report.git_sha.slice(0, 12)} · ${report.started_at} to ${report.finished_at}`,
    `- CPU µs per message: each process's (or thread's) user + system time from /proc, ${cpuBasis([...report.runs, ...(at?.runs ?? []), ...(one?.runs ?? [])])}, over the messages the harness put on the wire (events and copies); medians [min–max] over the runs. The generator variants' broker (the relay, a measurement fixture, or a private Mosquitto, each started by the command) is measured the same way, by its pid. The harness's share: the harness process's CPU (every thread) while the load ran, over it plus every other process the run started (servers it did not start, such as Redis, are not counted).`,
    '',
    perfTable(report),
    '',
    ...(at && atTable
      ? [
          `At ${percent(at.fraction)} of capacity: each capacity variant again in the open model (a schedule of intended send times, its warm-up at that rate) at ${percent(at.fraction)} of its median committed ev/s above, ${report.replicates} round${report.replicates === 1 ? '' : 's'}, interleaved. p99 is end to end, from each event's intended send time to its sink commit (queueing behind a stall counts), median [min–max] of the runs' p99; the bare subscriber commits nothing, so it has none (—). CPU µs per message here is at a fixed open-model rate, not at saturation: it tends to rise as the rate falls (fixed costs over fewer messages), so compare two variants' µs where their rates are close.`,
          '',
          atTable,
          '',
        ]
      : []),
    ...(one
      ? [
          `At one rate, ${one.rate_per_s} ev/s (${escapeCell(one.basis)}): every capacity variant again in the open model at the same rate, ${report.replicates} round${report.replicates === 1 ? '' : 's'}, interleaved: what each costs per message, process by process, for the same work. µs of CPU (user + system, from /proc) per message the harness put on the wire, median [min–max] of the runs; "all processes" is the harness, the broker and the subscriber or aggregator of each run, summed.`,
          '',
          ...(costTable ? [costTable, ''] : []),
          ...one.skipped.map((k) => `- ${escapeCell(k.variant)}: not run at ${one.rate_per_s} ev/s: ${escapeCell(k.reason)}`),
          ...(one.skipped.length > 0 ? [''] : []),
        ]
      : []),
    'Targets; a target not met is a finding of this machine and code, not a failure of the benchmark:',
    '',
    ...perfTargetLines(report),
    ...(invalid.length > 0 ? ['', `⚠ ${invalid.length} run${invalid.length === 1 ? '' : 's'} invalid (their figures are in the medians): ${invalid.map((r) => `${escapeCell(r.variant)} r${r.replicate}: ${escapeCell(r.invalid_reasons.join('; ') || 'invalid')}${expectedBound(report, r) ? ' (expected: a generator-capacity variant measures the harness)' : ''}`).join(' · ')}`] : []),
    '',
  ].join('\n');
}
