// perf.json and the table `npm run perf` prints: capacity of the bare subscriber and of the
// reference aggregator with each dedup store (closed model), the generator's own capacity and its
// CPU at a fixed rate, each with CPU µs per message of every process, and the issue-19 targets,
// each met or not. Pure: rendered from perf.json alone (the runs' figures, engine/figures.ts).

import type { RunResult } from '../engine/result.ts';
import { summarize, type Summary } from '../commands/campaign/summary.ts';
import { cpuColumns, escapeCell, range, summarizeVariants, table, type CompareRun, type VariantSummary } from './compare.ts';

export const PERF_SCHEMA = 'chaosbench.perf/v1';

/** What a variant of the benchmark measures. */
export type PerfKind = 'capacity' | 'generator-capacity' | 'generator-rate';

export interface PerfVariant {
  name: string;
  /** In words, for the table: "reference aggregator, memory dedup, closed model". */
  what: string;
  kind: PerfKind;
  aggregator: 'reference' | 'none';
}

export interface PerfReport {
  schema: typeof PERF_SCHEMA;
  command: string;
  replicates: number;
  /** The measured phase of every run (s), warm-up apart. */
  duration_s: number;
  /** Events in flight in the closed-model runs. */
  concurrency: number;
  /** The open-model rate of the generator-rate variant (ev/s). */
  generator_rate: number;
  variants: PerfVariant[];
  runs: CompareRun[];
  machine: RunResult['machine'] | null;
  git_sha: string;
  started_at: string;
  finished_at: string;
}

/** One target of issue 19 and where this benchmark stands: null when its variants were not run (or measured nothing). */
export interface PerfTarget {
  name: string;
  value: number | null;
  /** The bound, as text: "≤ 10 µs", "≥ 0.90". */
  bound: string;
  met: boolean | null;
  /** How the value is made, in words. */
  how: string;
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

/** The load workers' CPU µs per message summed (the generator's publishing), per run of a variant. */
function generatorUs(report: PerfReport, variant: string): Summary | null {
  const values = report.runs
    .filter((r) => r.variant === variant && r.figures?.cpu_us_per_message)
    .map((r) => Object.entries(r.figures!.cpu_us_per_message!).filter(([role]) => role.startsWith('load worker')).reduce((sum, [, us]) => sum + us, 0));
  return summarize(values);
}

/** Where the run stands against each target of issue 19. Pure. */
export function perfTargets(report: PerfReport): PerfTarget[] {
  const all = summaries(report);
  const of = (name: string) => all.find((s) => s.name === name && s.runs > s.errored);
  const rateVariant = report.variants.find((v) => v.kind === 'generator-rate');
  const capacityVariant = report.variants.find((v) => v.kind === 'generator-capacity');
  const us = rateVariant ? generatorUs(report, rateVariant.name) : null;
  const generatorCapacity = capacityVariant ? of(capacityVariant.name)?.committed_per_s?.median : undefined;
  const aggregatorCapacity = of(REFERENCE_FOR_GENERATOR)?.committed_per_s?.median;
  const over = generatorCapacity !== undefined && aggregatorCapacity ? generatorCapacity / aggregatorCapacity : null;
  const judge = (value: number | null, ok: (v: number) => boolean) => (value === null ? null : ok(value));
  return [
    {
      name: `generator CPU per message at ${report.generator_rate.toLocaleString('en-US')} ev/s`,
      value: us?.median ?? null,
      bound: `≤ ${GENERATOR_US_MAX} µs`,
      met: judge(us?.median ?? null, (v) => v <= GENERATOR_US_MAX),
      how: 'the load worker threads\' CPU µs per message, summed, median of the runs',
    },
    {
      name: `generator capacity ÷ reference aggregator capacity (${REFERENCE_FOR_GENERATOR} dedup)`,
      value: over,
      bound: `≥ ${GENERATOR_OVER_AGGREGATOR_MIN}`,
      met: judge(over, (v) => v >= GENERATOR_OVER_AGGREGATOR_MIN),
      how: 'ratio of the medians of committed ev/s',
    },
    ...RATIO_TARGETS.map(({ variant, min }) => {
      const value = of(variant)?.throughput_per_round?.median ?? null;
      return {
        name: `${variant} dedup capacity ÷ bare subscriber capacity`,
        value,
        bound: min === null ? 'reported' : `≥ ${min.toFixed(2)}`,
        met: min === null ? null : judge(value, (v) => v >= min),
        how: 'per round (each replicate over the bare subscriber\'s of the same round), median of the rounds',
      };
    }),
  ];
}

const times = (v: number) => `${v.toFixed(2)}×`;

/** The one table: per variant its capacity, ratio to the bare subscriber and CPU µs per message of each process. Pure. */
export function perfTable(report: PerfReport): string {
  const all = summaries(report);
  const columns = cpuColumns(all);
  const bare = all.find((s) => s.name === BARE);
  return table(
    ['variant', 'what', 'valid runs', 'committed ev/s median [min–max]', '× bare (medians)', '× bare per round median [min–max]', ...columns.header],
    all.map((s) => {
      const variant = report.variants.find((v) => v.name === s.name)!;
      const againstBare = variant.kind === 'capacity' && bare !== undefined && s !== bare;
      const ofMedians = againstBare && s.committed_per_s && bare.committed_per_s ? times(s.committed_per_s.median / bare.committed_per_s.median) : '—';
      return [
        `${s.valid < s.runs ? '⚠ ' : ''}${escapeCell(s.name)}`,
        escapeCell(variant.what),
        `${s.valid}/${s.runs}`,
        range(s.committed_per_s, (v) => v.toFixed(0)),
        s === bare ? '1.00×' : ofMedians,
        againstBare ? range(s.throughput_per_round, times) : '—',
        ...columns.cells(s),
      ];
    }),
  );
}

/** The target lines, one each: value, bound, met / not met / not measured. Pure. */
export function perfTargetLines(report: PerfReport): string[] {
  return perfTargets(report).map((t) => {
    const value = t.value === null ? 'not measured' : t.name.includes('CPU') ? `${t.value.toFixed(1)} µs` : t.value.toFixed(2);
    const verdict = t.met === null ? (t.value === null ? '' : ' — reported') : t.met ? ' — met' : ' — NOT MET';
    return `- ${t.name}: ${value} (target ${t.bound})${verdict}; ${t.how}`;
  });
}

/** What `npm run perf` prints and perf.md holds. Pure. */
export function renderPerf(report: PerfReport): string {
  const m = report.machine;
  const invalid = report.runs.filter((r) => !r.valid);
  return [
    `# chaosbench perf`,
    '',
    '```sh',
    report.command,
    '```',
    '',
    `- ${report.variants.length} variants × ${report.replicates} replicate${report.replicates === 1 ? '' : 's'}, interleaved; dup-storm (30% duplicate copies), ${report.duration_s} s measured per run after its warm-up; closed model with ${report.concurrency} events in flight, but the generator-rate variant (open model, ${report.generator_rate} ev/s)`,
    `- machine: ${m ? `${escapeCell(m.cpu_model)} × ${m.cpus} · node ${m.node}` : 'unknown (no run completed)'} · git ${report.git_sha.slice(0, 12)} · ${report.started_at} to ${report.finished_at}`,
    `- CPU µs per message: each process's (or thread's) user + system time from /proc over the messages the harness put on the wire (events and copies); medians [min–max] over the runs. An external broker (the generator variants' Mosquitto) is not measured.`,
    '',
    perfTable(report),
    '',
    'Targets; a target not met is a finding of this machine and code, not a failure of the benchmark:',
    '',
    ...perfTargetLines(report),
    ...(invalid.length > 0 ? ['', `⚠ ${invalid.length} run${invalid.length === 1 ? '' : 's'} invalid (their figures are in the medians): ${invalid.map((r) => `${escapeCell(r.variant)} r${r.replicate}: ${escapeCell(r.invalid_reasons.join('; ') || 'invalid')}`).join(' · ')}`] : []),
    '',
  ].join('\n');
}
