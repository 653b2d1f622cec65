// compare.json and compare.md of `npm run compare`: several variants of one scenario, each run a
// few times, interleaved. Pure: the figures of each run were taken from its result.json once, when
// it ran (engine/figures.ts), and the markdown is rendered from compare.json alone, so an old
// comparison re-renders with no broker.

import { HARNESS_ALL_THREADS, type RunFigures } from '../engine/figures.ts';
import type { RunResult } from '../engine/result.ts';
import { rangesOverlap, ratio, summarize, type Summary } from '../commands/campaign/summary.ts';

export const COMPARE_SCHEMA = 'chaosbench.compare/v1';

export interface CompareRun {
  /** 1-based position in the order the runs were made. */
  order: number;
  variant: string;
  /** 1-based. */
  replicate: number;
  out_dir: string;
  run_id: string | null;
  aggregator: 'reference' | 'none';
  valid: boolean;
  invalid_reasons: string[];
  /** The scenario's checks; null when the run did not complete. */
  passed: boolean | null;
  /** Its failed checks on events lost, never acked, never sent or doubled; absent in files written before they were recorded. */
  lost_events?: string[];
  /** The run could not complete (e.g. the broker was unreachable): no figures. */
  error: string | null;
  figures: RunFigures | null;
}

export interface CompareVariant {
  name: string;
  /** The axis value as given on the command line. */
  value: string;
  aggregator: 'reference' | 'none';
}

export interface CompareReport {
  schema: typeof COMPARE_SCHEMA;
  /** The command line as typed (npm run compare -- …). */
  command: string;
  scenario: string;
  seed: number;
  replicates: number;
  /** The flag that made the variants and the scenario field it changes. */
  axis: { flag: string; field: string };
  variants: CompareVariant[];
  /** The measured load of one run, described (e.g. "storm 1000 ev/s for 10 s"). */
  load: string;
  broker: string;
  machine: RunResult['machine'] | null;
  git_sha: string;
  started_at: string;
  finished_at: string;
  runs: CompareRun[];
  /** --at-capacity: each reference variant run again, open model, at a fraction of its own capacity. */
  at_capacity?: AtCapacity;
}

/**
 * The second stage of `npm run compare -- --at-capacity F`: capacity per variant is the median
 * committed ev/s of its (closed-model) runs above; each variant with latency (not the bare
 * subscriber) then runs again in the open model at F × that rate, --replicates times, interleaved.
 */
export interface AtCapacity {
  fraction: number;
  /** Variant name → the capacity it was measured at (median committed ev/s) and the open-model rate derived from it. */
  rates: { variant: string; capacity_per_s: number; rate_per_s: number }[];
  /** The measured load of one run, described (the rate differs per variant). */
  load: string;
  runs: CompareRun[];
}

export interface VariantSummary {
  name: string;
  runs: number;
  valid: number;
  /** Runs that did not complete (no figures). */
  errored: number;
  committed_per_s: Summary | null;
  p50_ms: Summary | null;
  p99_ms: Summary | null;
  p99_9_ms: Summary | null;
  duplicate_rate: Summary | null;
  loss_rate: Summary | null;
  sink_duplicates: Summary | null;
  /** Phase → in how many runs it was overloaded. */
  overloaded: { phase: string; runs: number }[];
  /** Median over median of the first variant. */
  throughput_ratio: number | null;
  /**
   * Round by round: committed ev/s over the first variant's in the same round (replicate), then
   * summarised over the rounds. The two runs of a round ran minutes apart at most, so a drift of
   * the machine's speed over the comparison cancels out here but not in the ratio of medians.
   */
  throughput_per_round: Summary | null;
  p99_ratio: number | null;
  /** Does the variant's min–max range overlap the first variant's (the difference within run-to-run spread)? */
  throughput_overlaps: boolean | null;
  p99_overlaps: boolean | null;
  /** CPU µs per message of each process (result.json cost), over the runs that measured it, in the order the roles first appear. */
  cpu_us_per_message: { role: string; summary: Summary }[];
}

/** Per variant, in the order given: the summary statistics over its runs and the ratios to the first. */
export function summarizeVariants(report: Pick<CompareReport, 'variants' | 'runs'>): VariantSummary[] {
  const partial = report.variants.map((variant) => {
    const runs = report.runs.filter((r) => r.variant === variant.name);
    const figures = runs.flatMap((r) => (r.figures ? [r.figures] : []));
    const of = (pick: (f: RunFigures) => number | null) => summarize(figures.map(pick));
    const overloaded = new Map<string, number>();
    for (const f of figures) for (const phase of new Set(f.overloaded_phases)) overloaded.set(phase, (overloaded.get(phase) ?? 0) + 1);
    return {
      name: variant.name,
      runs: runs.length,
      valid: runs.filter((r) => r.valid).length,
      errored: runs.filter((r) => r.figures === null).length,
      committed_per_s: of((f) => f.committed_per_s),
      p50_ms: of((f) => f.p50_ms),
      p99_ms: of((f) => f.p99_ms),
      p99_9_ms: of((f) => f.p99_9_ms),
      duplicate_rate: of((f) => f.duplicate_rate),
      loss_rate: of((f) => f.loss_rate),
      sink_duplicates: of((f) => f.sink_duplicates),
      overloaded: [...overloaded].map(([phase, n]) => ({ phase, runs: n })),
      cpu_us_per_message: cpuSummaries(figures),
    };
  });
  const first = partial[0];
  const committedIn = (variant: string | undefined, replicate: number) =>
    report.runs.find((r) => r.variant === variant && r.replicate === replicate)?.figures?.committed_per_s;
  const perRound = (variant: string) =>
    summarize(
      report.runs
        .filter((r) => r.variant === variant)
        .map((r) => ratio(r.figures?.committed_per_s, committedIn(first?.name, r.replicate))),
    );
  return partial.map((v) => ({
    ...v,
    throughput_ratio: ratio(v.committed_per_s?.median, first?.committed_per_s?.median),
    throughput_per_round: perRound(v.name),
    p99_ratio: ratio(v.p99_ms?.median, first?.p99_ms?.median),
    throughput_overlaps: v.committed_per_s && first?.committed_per_s ? rangesOverlap(v.committed_per_s, first.committed_per_s) : null,
    p99_overlaps: v.p99_ms && first?.p99_ms ? rangesOverlap(v.p99_ms, first.p99_ms) : null,
  }));
}

/** Per role, the summary of its CPU µs per message over the runs that measured it. */
function cpuSummaries(figures: readonly RunFigures[]): { role: string; summary: Summary }[] {
  const roles = [...new Set(figures.flatMap((f) => Object.keys(f.cpu_us_per_message ?? {})))];
  return roles.flatMap((role) => {
    const summary = summarize(figures.map((f) => f.cpu_us_per_message?.[role]));
    return summary ? [{ role, summary }] : [];
  });
}

/** Where a process's column goes: the generator's threads, the broker, the consumer, the harness as a whole last. */
const ROLE_ORDER = ['load worker', 'harness main thread', 'broker', 'bare subscriber', 'aggregator', 'target', HARNESS_ALL_THREADS];
const roleRank = (role: string) => {
  const rank = ROLE_ORDER.findIndex((prefix) => role.startsWith(prefix));
  return rank < 0 ? ROLE_ORDER.length - 1 : rank;
};

/** CPU µs per message as printed: whole µs from 100 up, else one decimal. */
export const microseconds = (v: number) => v.toFixed(v >= 100 ? 0 : 1);

/**
 * CPU µs per message as table columns, one per process (the union of the variants' roles; the
 * harness as a whole last), each cell median [min–max] over a variant's runs; none when no run measured it.
 */
export function cpuColumns(summaries: readonly Pick<VariantSummary, 'cpu_us_per_message'>[]): { header: string[]; cells: (s: Pick<VariantSummary, 'cpu_us_per_message'>) => string[] } {
  const roles = [...new Set(summaries.flatMap((s) => s.cpu_us_per_message.map((c) => c.role)))].sort((a, b) => roleRank(a) - roleRank(b) || a.localeCompare(b, 'en', { numeric: true }));
  return {
    header: roles.map((r) => `${escapeCell(r)} µs/msg`),
    cells: (s) => roles.map((role) => range(s.cpu_us_per_message.find((c) => c.role === role)?.summary ?? null, microseconds)),
  };
}

/** Of these runs, how many have CPU figures, and how many of those count their processes' start-up (stored before it was split off). Pure. */
export function countStartup(runs: readonly Pick<CompareRun, 'figures'>[]): { measured: number; withStartup: number } {
  const measured = runs.flatMap((r) => (r.figures?.cpu_us_per_message ? [r.figures] : []));
  return { measured: measured.length, withStartup: measured.filter((f) => f.cpu_includes_startup !== false).length };
}

/**
 * What the CPU µs per message of these runs count, in words for a caption: from the start of the
 * load schedule (results that split each process's start-up off), or the whole run (results stored
 * before), or a mix, said so. Pure.
 */
export function cpuBasis(runs: readonly Pick<CompareRun, 'figures'>[]): string {
  const { measured, withStartup } = countStartup(runs);
  if (withStartup === 0) return "from the start of the load schedule: each process's start-up (loading, starting, connecting: result.json cost.startup_cpu_s) is left out, so that short and long runs compare";
  if (withStartup === measured) return "over the whole run, each process's start-up included (results stored before it was split off)";
  return `from the start of the load schedule, except ${withStartup} of the ${measured} runs (stored before start-up was split off), whose figures include their processes' start-up and are higher by it`;
}

/** CPU µs per message, one row per variant, one column per process; null when no run measured it. */
export function cpuTable(summaries: readonly Pick<VariantSummary, 'name' | 'cpu_us_per_message'>[]): string | null {
  const columns = cpuColumns(summaries);
  if (columns.header.length === 0) return null;
  return table(['variant', ...columns.header], summaries.map((s) => [escapeCell(s.name), ...columns.cells(s)]));
}

/**
 * Text safe inside a markdown table cell: a pipe would end the cell and a line break the row, and
 * markdown's own punctuation would turn a name like `a*b*` into emphasis.
 */
export function escapeCell(text: string): string {
  return text.replace(/\r\n|\r|\n/g, ' ').replace(/[\\`*_[\]<>|#~]/g, (c) => `\\${c}`);
}

const MISSING = '—';

/** Milliseconds with about three significant digits. */
export function ms(value: number | null | undefined): string {
  if (value === null || value === undefined) return MISSING;
  const abs = Math.abs(value);
  return value.toFixed(abs >= 100 ? 0 : abs >= 10 ? 1 : 2);
}
const perS = (value: number | null | undefined) => (value === null || value === undefined ? MISSING : value.toFixed(0));
const pct = (value: number | null | undefined) => (value === null || value === undefined ? MISSING : `${(value * 100).toFixed(2)}%`);
const times = (value: number | null) => (value === null ? MISSING : `${value.toFixed(2)}×`);
export const range = (s: Summary | null, format: (v: number) => string) => (s === null ? MISSING : `${format(s.median)} [${format(s.min)}–${format(s.max)}]`);

export function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** A fenced code block that no backtick run inside the text can close. */
function fence(text: string, info = ''): string {
  const longest = Math.max(0, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const marks = '`'.repeat(Math.max(3, longest + 1));
  return `${marks}${info}\n${text}\n${marks}`;
}

function duration(fromIso: string, toIso: string): string {
  const s = Math.max(0, (Date.parse(toIso) - Date.parse(fromIso)) / 1000);
  if (!Number.isFinite(s)) return MISSING;
  return s >= 90 ? `${Math.floor(s / 60)} min ${Math.round(s % 60)} s` : `${Math.round(s)} s`;
}

function statusLine(report: CompareReport): string {
  const all = [...report.runs, ...(report.at_capacity?.runs ?? [])];
  const invalidRuns = all.filter((r) => !r.valid);
  const n = all.length;
  // Lost events come first: they are a failure of the system, whatever else made a run invalid (exit 1).
  const losing = all.filter((r) => (r.lost_events ?? []).length > 0);
  const lost = losing.length === 0 ? '' : `**${losing.length} of ${n} runs LOST EVENTS** — ${losing.map((r) => `${escapeCell(r.variant)} r${r.replicate}: ${r.lost_events!.join(', ')}`).join('; ')}\n\n`;
  return `${lost}${
    invalidRuns.length === 0
      ? `**All ${n} runs valid**`
      : `**${invalidRuns.length} of ${n} runs INVALID** — ${invalidRuns.map((r) => `${escapeCell(r.variant)} r${r.replicate}`).join(', ')}; their variants are marked ⚠`
  }`;
}

/** Only with more than one round of some variant besides the first is there a per-round spread to show. */
function showsPerRound(summaries: readonly VariantSummary[]): boolean {
  return summaries.some((s, i) => i > 0 && (s.throughput_per_round?.n ?? 0) > 1);
}

function variantTable(summaries: VariantSummary[]): string {
  return table(...variantTableData(summaries, escapeCell));
}

/** The per-variant table as data (header, rows); cell() makes a name safe for where it goes (escapeCell for markdown). */
export function variantTableData(summaries: VariantSummary[], cell: (text: string) => string): [string[], string[][]] {
  const anyOverload = summaries.some((s) => s.overloaded.length > 0);
  const perRound = showsPerRound(summaries);
  const marked = (s: VariantSummary) => `${s.valid < s.runs ? '⚠ ' : ''}${cell(s.name)}`;
  const withSpread = (r: number | null, overlaps: boolean | null, first: boolean) => (first || r === null ? times(r) : `${times(r)}${overlaps ? ' ~' : ''}`);
  const header = [
    'variant',
    'valid runs',
    'committed ev/s median [min–max]',
    '× ev/s',
    ...(perRound ? ['× ev/s per round median [min–max]'] : []),
    'p50 ms',
    'p99 ms median [min–max]',
    '× p99',
    'p99.9 ms',
    'duplicate rate',
    'loss rate',
    ...(anyOverload ? ['overloaded phases'] : []),
  ];
  const rows = summaries.map((s, i) => [
    marked(s),
    `${s.valid}/${s.runs}`,
    range(s.committed_per_s, (v) => v.toFixed(0)),
    withSpread(s.throughput_ratio, s.throughput_overlaps, i === 0),
    ...(perRound ? [i === 0 ? MISSING : range(s.throughput_per_round, (v) => `${v.toFixed(2)}×`)] : []),
    ms(s.p50_ms?.median),
    range(s.p99_ms, ms),
    withSpread(s.p99_ratio, s.p99_overlaps, i === 0),
    ms(s.p99_9_ms?.median),
    pct(s.duplicate_rate?.median),
    pct(s.loss_rate?.median),
    ...(anyOverload ? [s.overloaded.length === 0 ? MISSING : s.overloaded.map((o) => `${cell(o.phase)} (${o.runs}/${s.runs - s.errored})`).join(', ')] : []),
  ]);
  return [header, rows];
}

/** Latency at a fraction of each variant's own capacity: one row per variant of the second stage. */
function atCapacityTable(report: CompareReport, at: AtCapacity): string {
  return table(...atCapacityTableData(report, at, escapeCell));
}

/** The second stage's table as data (header, rows), cells made safe by cell(). */
export function atCapacityTableData(report: CompareReport, at: AtCapacity, cell: (text: string) => string): [string[], string[][]] {
  const variants = report.variants.filter((v) => at.rates.some((r) => r.variant === v.name));
  const summaries = summarizeVariants({ variants, runs: at.runs });
  const capacityRatio = (name: string) => {
    const capacities = summarizeVariants(report);
    const first = capacities[0]?.committed_per_s?.median;
    return ratio(capacities.find((s) => s.name === name)?.committed_per_s?.median, first);
  };
  return [
    ['variant', 'capacity ev/s', '× ev/s', 'offered ev/s', 'valid runs', 'committed ev/s', 'p50 ms', 'p99 ms median [min–max]', 'p99.9 ms', 'loss rate', 'overloaded'],
    summaries.map((s) => {
      const rate = at.rates.find((r) => r.variant === s.name)!;
      return [
        `${s.valid < s.runs ? '⚠ ' : ''}${cell(s.name)}`,
        rate.capacity_per_s.toFixed(0),
        times(capacityRatio(s.name)),
        rate.rate_per_s.toFixed(0),
        `${s.valid}/${s.runs}`,
        range(s.committed_per_s, (v) => v.toFixed(0)),
        ms(s.p50_ms?.median),
        range(s.p99_ms, ms),
        ms(s.p99_9_ms?.median),
        pct(s.loss_rate?.median),
        s.overloaded.length === 0 ? 'no' : s.overloaded.map((o) => `${cell(o.phase)} (${o.runs}/${s.runs - s.errored})`).join(', '),
      ];
    }),
  ];
}

function atCapacityHeading(at: AtCapacity): string {
  return `Latency at ${(at.fraction * 100).toFixed(0)}% of each variant's own capacity`;
}

/** The verdict line and the per-variant table: what the command prints when it is done. */
export function renderCompareSummary(report: CompareReport): string {
  const at = report.at_capacity;
  const second = at ? `\n\n${atCapacityHeading(at)} (open model):\n\n${atCapacityTable(report, at)}` : '';
  return `${statusLine(report)}\n\n${variantTable(summarizeVariants(report))}${second}`;
}

export function renderCompare(report: CompareReport): string {
  const summaries = summarizeVariants(report);
  const out: string[] = [];
  const at = report.at_capacity;
  const invalidRuns = [...report.runs, ...(at?.runs ?? [])].filter((r) => !r.valid);
  const n = report.runs.length;
  out.push(statusLine(report), '');
  out.push(`# chaosbench compare: ${escapeCell(report.scenario)} by ${escapeCell(report.axis.field)}`, '');
  out.push(fence(report.command, 'sh'), '');
  const m = report.machine;
  const names = report.variants.map((v) => escapeCell(v.name)).join(' ');
  out.push(
    `- scenario \`${report.scenario.replace(/`/g, "'")}\` · seed ${report.seed} · measured load per run: ${escapeCell(report.load)} · broker ${escapeCell(report.broker)}`,
    `- ${report.variants.length} variant${report.variants.length === 1 ? '' : 's'} by \`${report.axis.flag}\` (${escapeCell(report.axis.field)}) × ${report.replicates} replicate${report.replicates === 1 ? '' : 's'} = ${n} runs, interleaved: ${names}${report.replicates > 1 ? ` × ${report.replicates}` : ''} (every round runs each variant once, in the order given, so slow drift on the machine reaches all of them alike)`,
    `- machine: ${m ? `${escapeCell(m.cpu_model)} × ${m.cpus} · ${m.total_memory_gb} GB · node ${m.node} · ${m.platform}/${m.arch}` : 'unknown (no run completed)'} · git ${report.git_sha.slice(0, 12)}`,
    `- started ${report.started_at} · took ${duration(report.started_at, report.finished_at)}`,
    '',
  );
  out.push(variantTable(summaries), '');
  const anyOverload = summaries.some((s) => s.overloaded.length > 0);

  const notes = [
    `Medians over each variant's runs; p50, p99 and p99.9 are end to end (first sink commit − intended send time) over the measured phases, the median of the runs' percentiles. Duplicate rate = injected copies / deliveries (set by the scenario and seed; duplicates that reached the sink are in each run's report.md); loss rate = events never committed / published.`,
    `× ev/s and × p99: the variant's median over the first variant's (${escapeCell(report.variants[0]?.name ?? MISSING)}). ~ marks a variant whose min–max range overlaps the first's: with ${report.replicates} run${report.replicates === 1 ? '' : 's'} each, that difference is within run-to-run spread.`,
  ];
  // The note explains the column, so it comes with it.
  if (showsPerRound(summaries)) {
    notes.push(
      `× ev/s per round: in each round (replicate), the variant's committed ev/s over the first variant's in the same round, then the median and range over the rounds. Runs of one round are minutes apart, so a drift of the machine's speed during the comparison cancels out of these ratios; it does not cancel out of the ratio of medians.`,
    );
  }
  if (report.variants.some((v) => v.aggregator === 'none')) {
    notes.push('A bare subscriber acknowledges on receipt and commits nothing: its latency and loss are not measured (—); its ev/s is the rate it acknowledged.');
  }
  if (summaries.some((s) => s.valid < s.runs)) {
    notes.push(
      `⚠ marks a variant with an invalid run (the generator could not keep its schedule, or the run did not complete): its medians include the invalid runs that completed, so read them with care (see Runs below).`,
    );
  }
  if (anyOverload) notes.push('Overloaded phases: the backlog grew for the whole phase (in how many of the runs): latency there measures queue length.');
  out.push(...notes.map((note) => `- ${note}`), '');

  const cpu = cpuTable(summaries);
  if (cpu) {
    out.push(
      '## CPU per message',
      '',
      `CPU time (user + system) of each process and thread each run started, read from /proc, ${cpuBasis(report.runs)}, per message the harness put on the wire (events and duplicate copies), median [min–max] over each variant's runs. The harness's main thread and load workers are rows of their own and also part of "${HARNESS_ALL_THREADS}"; an external broker is not measured.`,
      '',
      cpu,
      '',
    );
  }

  if (at) {
    out.push(`## ${atCapacityHeading(at)}`, '');
    out.push(
      `Each variant's capacity is the median committed ev/s of its runs above; it then ran again in the open model (a schedule of intended send times, so latency counts queueing) at ${(at.fraction * 100).toFixed(0)}% of that rate, ${report.replicates} time${report.replicates === 1 ? '' : 's'}, interleaved (${escapeCell(at.load)}). The bare subscriber has no end-to-end latency and is left out. × ev/s: capacity over the first variant's.`,
      '',
      atCapacityTable(report, at),
      '',
    );
  }

  if (invalidRuns.length > 0) {
    out.push('## Invalid runs', '');
    for (const r of invalidRuns) {
      const why = r.error !== null ? `did not complete: ${r.error}` : r.invalid_reasons.join('; ') || 'invalid';
      const stage = at?.runs.includes(r) ? ` at ${(at.fraction * 100).toFixed(0)}% of capacity` : '';
      out.push(`- ${escapeCell(r.variant)}${stage} r${r.replicate} (run ${r.order} of ${n + (at?.runs.length ?? 0)}): ${escapeCell(why)}`);
    }
    out.push('');
  }

  out.push('## Runs', '', 'In the order they were made.', '');
  out.push(table(...runsTableData(report, escapeCell)), '');
  return out.join('\n');
}

/** Every run in the order made (the second stage's after), as data (header, rows), cells made safe by cell(). */
export function runsTableData(report: CompareReport, cell: (text: string) => string): [string[], string[][]] {
  const at = report.at_capacity;
  return [
    ['#', 'variant', 'replicate', 'committed ev/s', 'offered ev/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'loss rate', 'valid', 'checks', 'directory'],
    [...report.runs, ...(at?.runs ?? [])].map((r) => {
      const f = r.figures;
      return [
        String(r.order),
        `${cell(r.variant)}${at?.runs.includes(r) ? ` at ${(at.fraction * 100).toFixed(0)}%` : ''}`,
        `${r.replicate}/${report.replicates}`,
        perS(f?.committed_per_s),
        perS(f?.offered_per_s),
        ms(f?.p50_ms),
        ms(f?.p99_ms),
        ms(f?.p99_9_ms),
        pct(f?.loss_rate),
        r.error !== null ? '**error**' : r.valid ? 'yes' : '**INVALID**',
        r.passed === null ? MISSING : r.passed ? 'pass' : 'fail',
        cell(r.out_dir.split(/[\\/]/).filter(Boolean).at(-1) ?? r.out_dir),
      ];
    }),
  ];
}
