// Merging result.json files of several harness processes that drove one run together (shards,
// `npm run bench -- --shard I/N`) or ran the same scenario side by side: one result.json, as if one
// harness had driven it all. Latency histograms are added bucket by bucket (exact, as autocannon's
// aggregateResult merges its workers), ledger counts are summed (the shards' sources are disjoint,
// so no event is counted twice), rates, validity and checks are recomputed from the merged figures.
// What cannot be merged exactly (per-second p99s, generator lag p99, recovery) is bounded by the
// worst part and said so in the findings, and the rates are result-assembly's own formula on the
// summed counts. Pure: mergeResults takes parts that merge-problems.ts accepted (read and checked
// by result-file.ts) and is built of one small merger per section of a result.json; reading and
// writing files is merge-cli.ts's, which never writes over one of the parts it read.

import { isDeepStrictEqual } from 'node:util';
import type { AggregatorCounters } from '../../aggregator/pipeline.ts';
import type { LedgerSecond } from '../../engine/ledger/index.ts';
import { formatShard } from '../../engine/load/shard.ts';
import { phaseLoad, type TimelineSample } from '../../engine/metrics/backlog.ts';
import { LatencyRecorder } from '../../engine/metrics/histogram.ts';
import type { Recovery } from '../../engine/metrics/recovery.ts';
import { latencyResult, resultRates, round } from '../../engine/result-assembly.ts';
import { evaluateChecks, RESULT_SCHEMA, type MergedRunResult, type PhaseResult, type RunResult } from '../../engine/result.ts';
import type { FaultRecord } from '../../engine/load/messages.ts';
import type { ResultPart } from '../../engine/result-file.ts';
import { costHasSplit, costSection, type CostSection, type MeterTotal } from '../../engine/metrics/process-cpu.ts';

/** One input of a merge: a result.json read and checked by result-file.ts. */
export type MergePart = ResultPart;

// ---------------------------------------------------------------------------------------------
// How each figure combines.

type Totals = RunResult['totals'];

/** How each ledger figure combines: the shards' events are disjoint, so counts add up. */
const TOTALS_MERGE = {
  published: 'sum',
  acked_by_broker: 'sum',
  copies_published: 'sum',
  copies_acked: 'sum',
  copies_absorbed: 'sum',
  unique_committed: 'sum',
  lost: 'sum',
  dead_lettered: 'sum',
  lost_unacked: 'sum',
  never_sent: 'sum',
  sink_duplicates: 'sum',
  absorbed_by_sink: 'sum',
  unexpected: 'sum',
  reordered: 'sum',
  // Per source; the sources are disjoint, so the worst source of the whole run is the worst of any part.
  max_reorder_displacement: 'max',
  dlq: 'sum',
  publish_errors: 'sum',
  puback_timeouts: 'sum',
  errors: 'sum',
} as const satisfies Record<keyof Totals, 'sum' | 'max'>;

/** The aggregator's self-reported counters: each aggregator counted its own messages, so they add up. */
const COUNTERS_MERGE = {
  received: 'sum',
  broker_redeliveries: 'sum',
  redelivered: 'sum',
  duplicates_absorbed: 'sum',
  duplicates_absorbed_by_sink: 'sum',
  committed: 'sum',
  dlq: 'sum',
  retries: 'sum',
  errors: 'sum',
  claim_failures: 'sum',
  dlq_over_budget: 'sum',
  batches: 'sum',
  acked: 'sum',
  // Each part's aggregator had its own dedup store: sizes add up (peaks too, as an upper bound:
  // the parts' peaks need not have coincided).
  dedup_store: 'stores',
} as const satisfies Record<keyof AggregatorCounters, 'sum' | 'stores'>;
type CounterKey = { [K in keyof typeof COUNTERS_MERGE]: (typeof COUNTERS_MERGE)[K] extends 'sum' ? K : never }[keyof typeof COUNTERS_MERGE];
const COUNTER_KEYS = (Object.keys(COUNTERS_MERGE) as (keyof typeof COUNTERS_MERGE)[]).filter((key): key is CounterKey => COUNTERS_MERGE[key] === 'sum');

type StoreSize = NonNullable<AggregatorCounters['dedup_store']>;

function mergeStoreSizes(sizes: readonly (StoreSize | undefined)[]): StoreSize | undefined {
  const present = sizes.filter((s): s is StoreSize => s !== undefined);
  // A part that could not tell its store's size makes the sum unknown.
  if (present.length === 0 || present.length < sizes.length) return undefined;
  const total = (pick: (s: StoreSize) => number | null) => (present.some((s) => pick(s) === null) ? null : sum(present.map((s) => pick(s)!)));
  return {
    entries: sum(present.map((s) => s.entries)),
    entries_peak: sum(present.map((s) => s.entries_peak)),
    bytes_estimate: total((s) => s.bytes_estimate),
    bytes_peak: total((s) => s.bytes_peak),
  };
}


// ---------------------------------------------------------------------------------------------
// The merge.

const sum = (values: readonly number[]) => values.reduce((total, v) => total + v, 0);
const unique = <T>(values: readonly T[]) => [...new Set(values)];

function mergeRecorders(recorders: readonly LatencyRecorder[]): LatencyRecorder {
  const merged = new LatencyRecorder();
  for (const recorder of recorders) merged.merge(recorder);
  return merged;
}

/** Summed per second since each part's own schedule start; seconds some part has no sample for are left out. */
function mergeTimelines(timelines: readonly (readonly TimelineSample[])[]): TimelineSample[] {
  const bySecond = timelines.map((timeline) => new Map(timeline.map((s) => [Math.round(s.t_s), s])));
  const seconds = [...bySecond[0]!.keys()].filter((t) => bySecond.every((m) => m.has(t))).sort((x, y) => x - y);
  return seconds.map((t) => {
    const samples = bySecond.map((m) => m.get(t)!);
    const add = (pick: (s: TimelineSample) => number) => round(sum(samples.map(pick)), 3);
    return {
      t_s: t,
      phase: samples[0]!.phase,
      published: add((s) => s.published),
      broker_acked: add((s) => s.broker_acked),
      subscriber_acked: add((s) => s.subscriber_acked),
      backlog: add((s) => s.backlog),
      offered_per_s: add((s) => s.offered_per_s),
      consumed_per_s: add((s) => s.consumed_per_s),
      pending: add((s) => s.pending),
      retries: add((s) => s.retries),
      redelivered: add((s) => s.redelivered),
    };
  });
}

/**
 * Commits per second summed; p50 and p99 of a second are the worst part's: the quantile of a union
 * lies between the parts' quantiles, so this is an upper bound, not the exact figure.
 */
function mergeCommitsPerSecond(series: readonly (readonly LedgerSecond[])[]): LedgerSecond[] {
  const merged = new Map<number, LedgerSecond>();
  for (const seconds of series) {
    for (const s of seconds) {
      const into = merged.get(s.t_s);
      if (!into) merged.set(s.t_s, { ...s });
      else {
        into.committed += s.committed;
        into.p50_ms = Math.max(into.p50_ms, s.p50_ms);
        into.p99_ms = Math.max(into.p99_ms, s.p99_ms);
        into.max_ms = Math.max(into.max_ms, s.max_ms);
      }
    }
  }
  return [...merged.values()].sort((x, y) => x.t_s - y.t_s);
}

/** The same fault (phase, position, kind) in every part: its injected counts added up. */
function mergeFaults(perPart: readonly (readonly FaultRecord[])[]): FaultRecord[] {
  const merged = new Map<string, FaultRecord>();
  for (const records of perPart) {
    for (const record of records) {
      const key = `${record.phase}\u0000${record.fault}\u0000${record.kind}`;
      const into = merged.get(key);
      if (!into) merged.set(key, { ...record, injected: { ...record.injected } });
      else for (const [name, value] of Object.entries(record.injected)) into.injected[name] = (into.injected[name] ?? 0) + value;
    }
  }
  return [...merged.values()];
}

/** The slowest part's recovery: the run has recovered when every part has (null: some part never did). */
function worstRecovery(recoveries: readonly (Recovery | null)[]): Recovery | null {
  const present = recoveries.filter((r): r is Recovery => r !== null);
  if (present.length === 0) return null;
  return present.find((r) => r.recovery_s === null) ?? present.reduce((worst, r) => ((r.recovery_s ?? 0) > (worst.recovery_s ?? 0) ? r : worst));
}

const DRAIN_SEVERITY = { done: 0, stalled: 1, timeout: 2 } as const;

/** How far apart the parts' starts may be (share of the schedule) before the findings say so. */
export const START_SPREAD_NOTE_SHARE = 0.05;

function partName(part: MergePart): string {
  return part.result.shard ? `shard ${formatShard(part.result.shard)}` : part.label;
}

/** Ledger totals as TOTALS_MERGE says each combines. */
function mergeTotals(results: readonly RunResult[]): Totals {
  return Object.fromEntries(
    (Object.entries(TOTALS_MERGE) as [keyof Totals, 'sum' | 'max'][]).map(([key, how]) => {
      const values = results.map((r) => r.totals[key]);
      return [key, how === 'sum' ? sum(values) : Math.max(...values)];
    }),
  ) as unknown as Totals;
}

/** The aggregators' self-reported counters as COUNTERS_MERGE says each combines. */
function mergeSelfReported(results: readonly RunResult[]): AggregatorCounters {
  const selfReported = Object.fromEntries(COUNTER_KEYS.map((key) => [key, sum(results.map((r) => r.aggregator.self_reported[key] ?? 0))])) as unknown as AggregatorCounters;
  const stores = mergeStoreSizes(results.map((r) => r.aggregator.self_reported.dedup_store));
  if (stores) selfReported.dedup_store = stores;
  return selfReported;
}

/** Each phase: counts summed, rates of the whole, latency histograms added, recovery the slowest part's. */
function mergePhases(parts: readonly MergePart[], timeline: readonly TimelineSample[]): PhaseResult[] {
  const results = parts.map((p) => p.result);
  return results[0]!.phases.map((phase, i) => {
    const each = results.map((r) => r.phases[i]!);
    const published = sum(each.map((p) => p.published));
    const overloadedPart = each.find((p) => p.overloaded);
    const load = phaseLoad(timeline, phase.name) ?? overloadedPart?.load ?? null;
    return {
      name: phase.name,
      duration_s: phase.duration_s,
      target_rate: round(sum(each.map((p) => p.target_rate)), 3),
      // Each part measured what it handed off within the phase: the sum is what all of them offered.
      offered_per_s: round(sum(each.map((p) => p.offered_per_s))),
      published,
      dropped: sum(each.map((p) => p.dropped ?? 0)),
      dropped_window_full: sum(each.map((p) => p.dropped_window_full ?? 0)),
      lag_p99_ms: Math.max(...each.map((p) => p.lag_p99_ms ?? 0)),
      lag_max_ms: Math.max(...each.map((p) => p.lag_max_ms ?? 0)),
      unique_committed: sum(each.map((p) => p.unique_committed)),
      lost: sum(each.map((p) => p.lost)),
      excluded_from_totals: phase.excluded_from_totals,
      // Each part had its own aggregator: one that could not keep up is an overloaded system.
      overloaded: overloadedPart !== undefined || (load?.overloaded ?? false),
      system_faults: phase.system_faults ?? [],
      sink_duplicates: sum(each.map((p) => p.sink_duplicates ?? 0)),
      retries: sum(each.map((p) => p.retries ?? 0)),
      redelivered: sum(each.map((p) => p.redelivered ?? 0)),
      recovery: worstRecovery(each.map((p) => p.recovery ?? null)),
      load: load ?? null,
      latency: latencyResult(mergeRecorders(parts.map((p) => p.phases[i]!))),
    };
  });
}

/** Each part's own headline figures and provenance, for the report's table of parts. */
function mergedFrom(parts: readonly MergePart[], paths: readonly string[]): MergedRunResult['merged_from'] {
  return parts.map((part, i) => {
    const r = part.result;
    return {
      path: paths[i] ?? part.label,
      run_id: r.run_id,
      shard: r.shard ? formatShard(r.shard) : null,
      started_at: r.started_at,
      duration_s: r.duration_s,
      seed: r.seed,
      git_sha: r.git_sha,
      machine: r.machine,
      versions: r.versions,
      broker: r.broker,
      valid: r.valid,
      passed: r.passed,
      published: r.totals.published,
      unique_committed: r.totals.unique_committed,
      lost: r.totals.lost,
      offered_per_s: r.throughput.offered_per_s,
      committed_per_s: r.throughput.committed_per_s,
      latency_p50_ms: r.latency.end_to_end.p50_ms,
      latency_p99_ms: r.latency.end_to_end.p99_ms,
      generator_lag_p99_ms: r.generator.lag_p99_ms,
    };
  });
}

/** What the reader must know about the merge itself, then each part's own findings, tagged with it. */
function mergeFindings(parts: readonly MergePart[]): string[] {
  const results = parts.map((p) => p.result);
  const sharded = results[0]!.shard !== undefined;
  const starts = results.map((r) => Date.parse(r.started_at));
  const scheduleS = sum(results[0]!.scenario.phases.map((p) => p.duration_s));
  const spreadS = (Math.max(...starts) - Math.min(...starts)) / 1000;
  const findings: string[] = [];
  findings.push(
    `merged from ${parts.length} ${sharded ? `shards of one run (${parts.map(partName).join(', ')})` : 'runs of the same scenario side by side'}: counts and latency histograms are exact sums, checks re-evaluated on them; per-second p99, generator lag p99 and recovery are the worst part's.`,
  );
  if (!sharded) {
    findings.push(`the parts each ran the whole scenario, so the merged target (${round(sum(results.map((r) => r.throughput.target_per_s)), 0)} ev/s) is ${parts.length} × the scenario's.`);
  }
  const brokers = unique(results.map((r) => `${r.broker.kind} ${r.broker.url}`));
  if (results.some((r) => r.broker.kind === 'embedded')) {
    findings.push(`${results.filter((r) => r.broker.kind === 'embedded').length} part(s) ran their own embedded broker: the merged figures describe ${parts.length} separate systems each under its share of the load, not one broker under all of it (use --broker mqtt://HOST:PORT on every part for that).`);
  } else if (brokers.length > 1) {
    findings.push(`the parts name different brokers (${brokers.join('; ')}); if these are not one broker reached by different addresses, the merged figures describe separate systems.`);
  }
  if (scheduleS > 0 && spreadS > START_SPREAD_NOTE_SHARE * scheduleS) {
    const overlap = Math.max(0, 1 - spreadS / scheduleS);
    findings.push(
      `the parts started ${round(spreadS, 1)} s apart (by their own clocks) on a ${round(scheduleS, 1)} s schedule: they overlapped for at most ${(overlap * 100).toFixed(0)}% of it, so the summed throughput ${overlap === 0 ? 'never ' : 'was not all '}offered at once.`,
    );
  }
  if (unique(results.map((r) => r.git_sha)).length > 1) findings.push(`the parts ran different code: git ${unique(results.map((r) => r.git_sha)).join(', ')}.`);
  if (unique(results.map((r) => r.seed)).length > 1) findings.push(`the parts ran with different seeds (${results.map((r) => r.seed).join(', ')}); the scenario shown has the first part's.`);
  for (const part of parts) for (const finding of part.result.findings) findings.push(`[${partName(part)}] ${finding}`);
  return findings;
}

/** The load generators: sizes and counts summed, lags the worst part's. */
function mergeGenerator(results: readonly RunResult[]): RunResult['generator'] {
  const first = results[0]!;
  return {
  model: first.generator.model,
  workers: sum(results.map((r) => r.generator.workers)),
  publishers: sum(results.map((r) => r.generator.publishers)),
  lag_p99_ms: Math.max(...results.map((r) => r.generator.lag_p99_ms)),
  lag_max_ms: Math.max(...results.map((r) => r.generator.lag_max_ms)),
  max_lag_ms: Math.max(...results.map((r) => r.generator.max_lag_ms ?? 0)),
  dropped: sum(results.map((r) => r.generator.dropped ?? 0)),
  dropped_window_full: sum(results.map((r) => r.generator.dropped_window_full ?? 0)),
  window_waits: sum(results.map((r) => r.generator.window_waits)),
  unsettled: sum(results.map((r) => r.generator.unsettled)),
  // Per process: the largest any one harness needed.
  rss_peak_mb: Math.max(...results.map((r) => r.generator.rss_peak_mb)),
};
}

/**
 * The drain after the load: the longest, complete only if every part's was, the worst way it
 * stopped; what it counted, where every part says (the parts share one aggregator kind, so one
 * answer, except that a sum with any part's self-reported count in it is self-reported).
 */
function mergeDrain(results: readonly RunResult[]): RunResult['drain'] {
  const drainWorst = results.map((r) => r.drain.stopped).reduce((worst, s) => (DRAIN_SEVERITY[s] > DRAIN_SEVERITY[worst] ? s : worst), 'done' as RunResult['drain']['stopped']);
  const counted = results.map((r) => r.drain.counted);
  return {
  drain_s: Math.max(...results.map((r) => r.drain.drain_s)),
  complete: results.every((r) => r.drain.complete),
  stopped: drainWorst,
  outstanding: sum(results.map((r) => r.drain.outstanding)),
  // The parts' reasons stay in their findings; the merged drain only adds up what was missing.
  ...(results.some((r) => r.drain.not_committed !== undefined) ? { not_committed: sum(results.map((r) => r.drain.not_committed ?? 0)) } : {}),
  ...(counted.includes(undefined) ? {} : { counted: counted.includes('subscriber (self-reported)') ? 'subscriber (self-reported)' : counted[0]! }),
};
}

/**
 * CPU per process over the parts: each harness started its own processes, so the CPU seconds of a
 * role, its incarnations and the messages add up, and µs per message is recomputed from the sums.
 * Only when every part measured it (a part without /proc, or from before, would make a sum too small).
 */
function mergeCost(results: readonly RunResult[]): CostSection | undefined {
  const costs = results.map((r) => r.cost);
  if (costs.some((c) => c === undefined)) return undefined;
  const all = costs as CostSection[];
  // The start-up split only when every part recorded it (else a sum of it would be too small).
  const split = all.every((c) => costHasSplit(c, 'startup_cpu_s'));
  const splitEnd = all.every((c) => costHasSplit(c, 'after_load_cpu_s'));
  const roles = new Map<string, MeterTotal>();
  for (const row of all.flatMap((c) => c.processes)) {
    const into = roles.get(row.role) ?? { role: row.role, cpu_s: 0, incarnations: 0, ...(split ? { startup_cpu_s: 0 } : {}), ...(splitEnd ? { after_load_cpu_s: 0 } : {}) };
    into.cpu_s += row.cpu_s;
    into.incarnations += row.incarnations;
    if (split) into.startup_cpu_s! += row.startup_cpu_s!;
    if (splitEnd) into.after_load_cpu_s! += row.after_load_cpu_s!;
    roles.set(row.role, into);
  }
  const merged = costSection({
    clock_ticks_per_s: all[0]!.clock_ticks_per_s,
    sampling_interval_s: Math.max(...all.map((c) => c.sampling_interval_s)),
    messages: sum(all.map((c) => c.messages)),
    processes: [...roles.values()],
    harness_process_cpu_s: sum(all.map((c) => c.harness_process.cpu_s)),
    ...(split ? { harness_process_startup_cpu_s: sum(all.map((c) => c.harness_process.startup_cpu_s!)) } : {}),
    ...(splitEnd ? { harness_process_after_load_cpu_s: sum(all.map((c) => c.harness_process.after_load_cpu_s!)) } : {}),
    not_measured: unique(all.flatMap((c) => c.not_measured)),
    restarted: all.some((c) => c.processes.some((p) => p.incarnations > 1)),
  });
  return { ...merged, notes: [...merged.notes, `each role summed over the ${all.length} harness processes merged (each started its own)`] };
}

/** Merges parts that mergeProblems() (merge-problems.ts) accepted. Pure. */
export function mergeResults(parts: readonly MergePart[], paths: readonly string[] = parts.map((p) => p.label)): MergedRunResult {
  const results = parts.map((p) => p.result);
  const first = results[0]!;
  const scenario = first.scenario;
  const bare = first.aggregator.kind === 'none';

  const totals = mergeTotals(results);
  const selfReported = mergeSelfReported(results);

  // The same formulas as the run's own result, on the merged counts.
  const rates = resultRates(totals, bare);
  const endToEnd = mergeRecorders(parts.map((p) => p.end_to_end));
  const publishAck = mergeRecorders(parts.map((p) => p.publish_ack));
  const latency = { end_to_end: latencyResult(endToEnd), publish_ack: latencyResult(publishAck) };
  const timeline = mergeTimelines(results.map((r) => r.timeline ?? []));
  const recovery_s = Math.max(0, ...results.map((r) => r.recovery_s ?? 0));

  const phases = mergePhases(parts, timeline);

  const starts = results.map((r) => Date.parse(r.started_at));
  const ends = results.map((r, i) => starts[i]! + r.duration_s * 1000);
  const earliest = Math.min(...starts);

  const findings = mergeFindings(parts);
  const cost = mergeCost(results);
  const brokers = unique(results.map((r) => `${r.broker.kind} ${r.broker.url}`));

  const invalid = parts.flatMap((part) => part.result.invalid_reasons.map((reason) => `${partName(part)}: ${reason}`));
  for (const part of parts) if (!part.result.valid && part.result.invalid_reasons.length === 0) invalid.push(`${partName(part)}: marked invalid`);
  const checks = bare ? [] : evaluateChecks(scenario.checks, { totals, latency, recovery_s });

  // Overrides every part had alike, without the shard: what replays the whole run in one process.
  const overrides = Object.fromEntries(Object.entries(first.overrides).filter(([key, value]) => key !== 'shard' && results.every((r) => isDeepStrictEqual(r.overrides[key], value))));
  const versions: Record<string, string> = {};
  for (const key of unique(results.flatMap((r) => Object.keys(r.versions)))) versions[key] = unique(results.map((r) => r.versions[key] ?? 'unknown')).join(' / ');
  const joined = (values: readonly string[]) => unique(values).join(', ');
  const stamp = new Date(earliest).toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');

  return {
    schema: RESULT_SCHEMA,
    run_id: `${stamp}-${scenario.name}-merged-${parts.length}`,
    scenario,
    overrides,
    seed: first.seed,
    git_sha: joined(results.map((r) => r.git_sha)),
    started_at: new Date(earliest).toISOString(),
    machine: {
      node: joined(results.map((r) => r.machine.node)),
      platform: joined(results.map((r) => r.machine.platform)),
      arch: joined(results.map((r) => r.machine.arch)),
      cpus: sum(results.map((r) => r.machine.cpus)),
      cpu_model: `${joined(results.map((r) => r.machine.cpu_model))} (totals of ${parts.length} harness processes)`,
      total_memory_gb: round(sum(results.map((r) => r.machine.total_memory_gb))),
    },
    versions,
    broker: brokers.length === 1 ? first.broker : { kind: results.every((r) => r.broker.kind === 'external') ? 'external' : 'embedded', url: brokers.join('; ') },
    // Each part had a sink of its own (its file, its schema): the merge names the kind when they agree, and where they were.
    ...(results.every((r) => r.sink && r.sink.kind === first.sink?.kind) ? { sink: { kind: first.sink!.kind, url: unique(results.map((r) => r.sink!.url)).join('; ') } } : {}),
    aggregator: { kind: first.aggregator.kind, claim_order: joined(results.map((r) => r.aggregator.claim_order)), self_reported: selfReported },
    totals,
    rates,
    throughput: {
      model: first.throughput.model,
      target_per_s: round(sum(results.map((r) => r.throughput.target_per_s))),
      offered_per_s: round(sum(results.map((r) => r.throughput.offered_per_s))),
      committed_per_s: round(sum(results.map((r) => r.throughput.committed_per_s))),
    },
    generator: mergeGenerator(results),
    drain: mergeDrain(results),
    latency,
    // Every part measures to its own COMMIT returns on its own host's clock: one definition when they all give it.
    ...(results.every((r) => r.latency_end) && unique(results.map((r) => `${r.latency_end!.ends_at}|${r.latency_end!.clock}`)).length === 1
      ? { latency_end: { ...first.latency_end!, commit_time_unrecorded: sum(results.map((r) => r.latency_end!.commit_time_unrecorded)) } }
      : {}),
    recovery_s,
    phases,
    timeline,
    // A sum with any part's self-reported count in it is self-reported.
    ...(results.every((r) => r.backlog_source === undefined)
      ? {}
      : { backlog_source: results.every((r) => r.backlog_source === 'broker') ? ('broker' as const) : ('subscriber (self-reported)' as const) }),
    commits_per_second: mergeCommitsPerSecond(results.map((r) => r.commits_per_second ?? [])),
    faults: mergeFaults(results.map((r) => r.faults)),
    checks,
    passed: checks.every((c) => c.passed),
    valid: invalid.length === 0,
    invalid_reasons: invalid,
    findings,
    duration_s: round((Math.max(...ends) - earliest) / 1000),
    ...(cost ? { cost } : {}),
    merged_from: mergedFrom(parts, paths),
  };
}
