// From the raw material of a finished run (publish log, ledger, timeline, aggregator counters) to
// result.json: validity, overload and recovery verdicts, findings, checks, and the facts that make
// a run reproducible. No processes, no sockets: everything it needs is handed to it.

import { redactDeep } from '../aggregator/redact.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import { installedVersion } from './package-version.ts';
import type { emptyCounters } from '../aggregator/pipeline.ts';
import type { LoadOutcome } from './load/generator.ts';
import type { Ledger } from './ledger/index.ts';
import { bareEventsPerS, phaseLoad, type BacklogSource, type TimelineSample } from './metrics/backlog.ts';
import { recoveries, type Recovery } from './metrics/recovery.ts';
import { runsIn } from './faults/registry.ts';
import type { LatencyRecorder } from './metrics/histogram.ts';
import { DEFAULT_MAX_LAG_MS, type Scenario } from '../scenarios/schema.ts';
import type { CostSection, HarnessBusiest } from './metrics/process-cpu.ts';
import { evaluateChecks, RESULT_SCHEMA, type DrainCount, type Interruption, type LatencyResult, type RunResult, type SinkDescription, type TargetRecord } from './result.ts';

/**
 * A measured phase whose offered rate (its events handed off before it ended ÷ its duration) is
 * below this share of the target makes the run invalid: the generator could not keep up.
 */
export const OFFERED_RATE_TOLERANCE = 0.95;
/** A measured phase whose generator lag p99 is above this makes the run invalid. */
export const GENERATOR_LAG_P99_LIMIT_MS = 100;
/**
 * In the closed model, a harness thread that was running or waiting for a core at least this share
 * of the time the load ran makes the run invalid: it always had work, so it set the pace, and the
 * committed rate is what the harness could offer on this machine, not the system's capacity.
 */
export const HARNESS_BOUND_SHARE = 0.8;

/** result.json's latency_end, apart from the count: what the code measures (see aggregator/sink/sqlite.ts, aggregator/clock.ts). */
export const LATENCY_END = {
  ends_at: "the return of the sink COMMIT that first wrote the event, in the aggregator (the time is recorded in the sink's commits table)",
  clock:
    "this host's wall clock in µs (CLOCK_REALTIME anchored once per process to the monotonic clock): the harness reads it for intended send times and the aggregator, a child process on the same host, for commit times",
} as const;

/** A recorder as result.json holds it: its summary and its histogram (also how `npm run merge` writes merged ones). */
export function latencyResult(recorder: LatencyRecorder): LatencyResult {
  return { ...recorder.summary(), histogram: recorder.encode() };
}

/**
 * The run's rates from its ledger totals: per delivery (originals and injected copies) for
 * duplicates, errors and DLQ; loss per published event. Also how `npm run merge` recomputes them
 * on summed totals, so a merged run's rates are the same formula as one run's.
 */
export function resultRates(totals: RunResult['totals'], bare: boolean): RunResult['rates'] {
  const deliveries = totals.published + totals.copies_published;
  return {
    duplicate_rate: deliveries === 0 ? 0 : totals.copies_published / deliveries,
    loss_rate: bare || totals.published === 0 ? 0 : (totals.lost + totals.lost_unacked + totals.never_sent) / totals.published,
    error_rate: deliveries === 0 ? 0 : totals.errors / deliveries,
    dlq_rate: deliveries === 0 ? 0 : totals.dlq / deliveries,
  };
}

export interface Assembly {
  runId: string;
  started: Date;
  /** Of the run's options (run.ts, RunOptions), what result.json records; run.ts passes them all. */
  options: { scenario: Scenario; overrides: Record<string, unknown> };
  aggregatorKind: RunResult['aggregator']['kind'];
  brokerKind: 'embedded' | 'external';
  brokerUrl: string;
  /** BrokerHandle.software: which broker it was, as far as the harness could tell. */
  brokerSoftware: string;
  /** How the clients connected: MQTT version, and whether with a client certificate and a password. */
  brokerAccess?: Pick<RunResult['broker'], 'mqtt_version' | 'client_certificate' | 'password'>;
  /** The sink read back; undefined for a bare subscriber (it has none). */
  sink?: SinkDescription;
  load: LoadOutcome;
  ledger: Ledger;
  timeline: TimelineSample[];
  backlogSource: BacklogSource;
  drain: RunResult['drain'];
  counters: ReturnType<typeof emptyCounters>;
  claimOrder: string;
  excluded: ReadonlySet<number>;
  rssPeakMb: number;
  /** Your own consumer (aggregatorKind 'external'): what result.json records of it. */
  target?: TargetRecord;
  /** CPU of every process and thread the run started (absent without /proc). */
  cost?: CostSection;
}

/**
 * The run's result.json, with every URL's password as *** wherever it would show (a dedup URL in
 * the scenario, a finding quoting it, a target's stderr): result.json and what is rendered from it
 * (report.md, compare, gate, merge) never hold one.
 */
/** How the closed model's invalid reason for a harness that set the pace begins. */
export const HARNESS_BOUND_PREFIX = 'the harness was the bound:';

/** The closed model's invalid reason when a harness thread set the pace. */
export function harnessBoundReason(busiest: HarnessBusiest): string {
  const pct = (share: number) => `${(share * 100).toFixed(0)}%`;
  // Running most of it: the thread's own work is the limit. Waiting most of it: the machine's CPU,
  // which the harness shares with what it measures.
  const remedy =
    busiest.cores >= busiest.wait_share
      ? 'more load workers may help: load.workers'
      : 'it waited for a core more than it ran: the machine, shared with what it measures, had no CPU to spare for it; the harness on a machine of its own, or fewer other processes beside it, may help';
  return `${HARNESS_BOUND_PREFIX} its ${busiest.role} was running or waiting for a core ${pct(busiest.busy_share)} of the time the load ran (running ${pct(busiest.cores)}, waiting ${pct(busiest.wait_share)}; ${pct(HARNESS_BOUND_SHARE)} or more in the closed model), so the committed rate is what the harness could offer on this machine, not the system's capacity (${remedy})`;
}

/** How an interrupted run's invalid reason reads (first of its reasons). */
export const interruptedReason = (i: Interruption) => `interrupted by ${i.signal} at ${i.at_s} s: partial`;

/**
 * Marks a run that was interrupted (SIGINT/SIGTERM): invalid for that reason alone (the validity
 * rules judge whole phases, and its last phases were cut short or never ran), and not passed. Its
 * figures stay as measured (events not committed by the interruption count as lost), but its
 * verdict is INTERRUPTED and its checks are not judged (engine/result.ts runVerdict).
 */
export function markInterrupted(result: RunResult, interruption: Interruption): void {
  result.interrupted = interruption;
  result.valid = false;
  result.passed = false;
  result.invalid_reasons = [interruptedReason(interruption)];
}

export function assembleResult(a: Assembly): RunResult {
  return redactDeep(assembleWithSecrets(a));
}

function assembleWithSecrets(a: Assembly): RunResult {
  const { scenario } = a.options;
  const { ledger, load } = a;
  const open = scenario.load.model === 'open';
  const bare = a.aggregatorKind === 'none';
  const measuredIndexes = load.phases.flatMap((_, i) => (a.excluded.has(i) ? [] : [i]));
  const measured = measuredIndexes.map((i) => load.phases[i]!);
  const measuredS = measured.reduce((sum, p) => sum + (p.end_us - p.start_us) / 1e6, 0);
  // Offered is measured: what was handed off within each phase, not what the schedule planned.
  const measuredHandedOff = measured.reduce((sum, p) => sum + p.handed_off, 0);
  const measuredCommitted = measuredIndexes.reduce((sum, i) => sum + ledger.phases[i]!.unique_committed, 0);
  const target = open && measuredS > 0 ? measured.reduce((sum, p) => sum + p.target_rate * ((p.end_us - p.start_us) / 1e6), 0) / measuredS : 0;
  const firstMeasured = measured[0]?.start_us ?? load.phases[0]?.start_us ?? 0;
  const lag = load.lag.summary();
  const publishCounters = load.log.counters;

  // A bare subscriber commits nothing: its throughput is what it acknowledged, from the timeline,
  // over the measured phases' own bounds (as an aggregator's committed rate is), not over the samples
  // inside them: those miss the phase's first second, which in the closed model is its slowest.
  const bareRate = bareEventsPerS(
    a.timeline,
    measured.map((p) => ({ from_s: (p.start_us - load.start_us) / 1e6, to_s: (p.end_us - load.start_us) / 1e6 })),
  );
  const committedSpanS = Math.max(measuredS, (ledger.last_commit_us - firstMeasured) / 1e6);
  const committedPerS = bare ? bareRate : committedSpanS > 0 ? measuredCommitted / committedSpanS : 0;

  // Only the harness's own figures: the aggregator's counters stay in aggregator.self_reported.
  const totals = {
    ...ledger.totals,
    // A bare subscriber commits nothing, so nothing can be classified as lost or absorbed: not measured.
    ...(bare ? { lost: 0, dead_lettered: 0, lost_unacked: 0, never_sent: 0, copies_absorbed: 0 } : {}),
    publish_errors: publishCounters.publish_errors,
    puback_timeouts: publishCounters.puback_timeouts,
    errors: publishCounters.publish_errors + publishCounters.puback_timeouts,
  };
  // totals carries the ledger's published, copies and dlq unchanged.
  const rates = resultRates(totals, bare);
  const offered = measuredS > 0 ? measuredHandedOff / measuredS : 0;
  const maxLagMs = scenario.load.max_lag_ms ?? DEFAULT_MAX_LAG_MS;
  const phaseLag = load.phases.map((p) => p.lag.summary());
  const droppedOf = (p: LoadOutcome['phases'][number]) => p.dropped_late + p.dropped_window;
  const dropped = load.phases.reduce((sum, p) => sum + droppedOf(p), 0);

  // Validity: is the generator, not the system, the limit? (A slow system is a result, below.)
  const invalid: string[] = [];
  if (dropped > 0) {
    const where = load.phases
      .filter((p) => droppedOf(p) > 0)
      .map((p) => `${droppedOf(p)} in '${p.name}'${p.dropped_window > 0 ? `, ${p.dropped_window} of them behind a full window` : ''}`);
    invalid.push(
      `the generator dropped ${dropped} events, more than ${maxLagMs} ms behind their intended send time, never sent (${where.join('; ')}): the harness could not keep its schedule${load.phases.some((p) => p.dropped_window > 0) ? ' (events behind a full window: PUBACKs came too slowly for load.window)' : ''}`,
    );
  }
  if (open) {
    for (const i of measuredIndexes) {
      const phase = load.phases[i]!;
      const seconds = (phase.end_us - phase.start_us) / 1e6;
      const phaseOffered = phase.handed_off / seconds;
      if (phaseOffered < phase.target_rate * OFFERED_RATE_TOLERANCE) {
        invalid.push(
          `the generator offered ${phaseOffered.toFixed(0)} ev/s in phase '${phase.name}' (events handed off before the phase ended) against a target of ${phase.target_rate.toFixed(0)} ev/s (below ${OFFERED_RATE_TOLERANCE * 100}%): the harness, not the system, was the limit`,
        );
      }
      if (phaseLag[i]!.p99_ms > GENERATOR_LAG_P99_LIMIT_MS) {
        invalid.push(
          `the generator fell behind its schedule in phase '${phase.name}': lag p99 ${phaseLag[i]!.p99_ms.toFixed(1)} ms > ${GENERATOR_LAG_P99_LIMIT_MS} ms (more load workers may help: load.workers)`,
        );
      }
    }
  }

  // The closed model has no schedule to fall behind: a harness that cannot keep up shows as a
  // harness thread that always had work (engine/metrics/process-cpu.ts, harnessBusiest).
  const busiest = a.cost?.harness_busiest;
  if (!open && busiest && busiest.busy_share >= HARNESS_BOUND_SHARE) invalid.push(harnessBoundReason(busiest));

  /** Faults of a phase that act on the system (processes, network), not on the offered load. */
  const systemFaultsOf = (phase: string) => (scenario.phases.find((p) => p.name === phase)?.faults ?? []).filter((f) => runsIn(f) === 'system').map((f) => f.kind);

  // Overload: the broker accepted more than the subscriber finished, for the whole phase.
  // Your own consumer reports nothing: without the broker's count of its PUBACKs (an external
  // broker) there is no consumed rate, so no overload verdict rather than a false one.
  const consumedUnknown = a.target !== undefined && a.backlogSource !== 'broker';
  const overload = consumedUnknown ? [] : measuredIndexes.flatMap((i) => {
    const verdict = phaseLoad(a.timeline, load.phases[i]!.name);
    return verdict ? [verdict] : [];
  });

  const findings: string[] = [];
  for (const verdict of overload.filter((v) => v.overloaded)) {
    const phase = load.phases.find((p) => p.name === verdict.phase)!;
    const faultKinds = systemFaultsOf(verdict.phase);
    const what =
      faultKinds.length > 0
        ? `fell behind during the fault${faultKinds.length === 1 ? '' : 's'} (${faultKinds.join(', ')})`
        : `overloaded at ${open ? `${phase.target_rate.toFixed(0)} ev/s` : 'the closed-model concurrency'}`;
    findings.push(
      `${what} in phase '${verdict.phase}': the subscriber finished ${verdict.consumed_per_s.toFixed(0)} msg/s (${a.backlogSource === 'broker' ? 'PUBACKs counted by the broker' : 'self-reported'}) of the ${verdict.accepted_per_s.toFixed(0)} msg/s the broker accepted (${(verdict.sustained_share * 100).toFixed(0)}%); the backlog grew by ${verdict.backlog_growth_per_s.toFixed(0)} msg/s to ${verdict.backlog_at_end} at the phase end, so this phase's latency measures queue length.`,
    );
  }
  if (bare) {
    findings.push('bare subscriber (--aggregator none): messages are acknowledged on receipt and nothing is committed, so loss, sink duplicates and end-to-end latency are not measured; committed throughput is the subscriber\'s acknowledgement rate.');
  }
  // Your own consumer reports no receive count: nothing to compare the broker's acks with.
  const undelivered = a.target ? 0 : ledger.totals.acked_by_broker + ledger.totals.copies_acked - a.counters.received;
  if (!bare && ledger.totals.lost > 0) findings.push(lossFinding(ledger.totals.lost, undelivered, a.brokerSoftware));
  const drain = drainOutcome(a.drain, bare ? 0 : ledger.totals.lost, scenario.drain_timeout_s);
  if (drain.reason !== undefined) {
    findings.push(
      bare
        ? `the drain ${drain.reason}.`
        : `${drain.not_committed} events acknowledged by the broker were not committed by the end of the drain: it ${drain.reason}. They count as lost; a broker that redelivers on a timer (an ack-wait) may deliver them later, which a longer drain_timeout_s would show.`,
    );
  }
  if (publishCounters.puback_timeouts > 0 || load.unsettled > 0) {
    findings.push(
      `${publishCounters.puback_timeouts} publishes got no PUBACK within ${scenario.load.puback_timeout_ms} ms (counted as errors)${load.unsettled > 0 ? `; ${load.unsettled} were still unsettled when the harness stopped waiting` : ''}.`,
    );
  }
  if (totals.dead_lettered > 0) {
    findings.push(
      `${totals.dead_lettered} valid events this run published were dead-lettered by the aggregator instead of stored: they are not in the sink, so they count as lost (the DLQ says where they went, not that they were kept).`,
    );
  }
  if (totals.never_sent > 0) {
    findings.push(
      `${totals.never_sent} events were never handed to the MQTT client: they were still queued behind a full window of un-acked publishes (load.window ${scenario.load.window}) when the run stopped, so they are not in the sink.`,
    );
  }
  if (consumedUnknown) {
    findings.push("the target's consumed rate and backlog were not measured: the broker does not count its subscriber's PUBACKs and the target reports no counters, so the timeline's consumed figures read 0 and no phase is judged overloaded.");
  }
  if (a.target && !a.target.commit_time) {
    findings.push("latency was not measured: the target's query gives no commit time (target.sink.commit_time_column), so latency checks fail as not measured.");
  }
  if (a.target && a.target.unexpected_exits.length > 0) {
    findings.push(`the target exited ${a.target.unexpected_exits.length} time${a.target.unexpected_exits.length === 1 ? '' : 's'} without being asked to (${a.target.unexpected_exits.map((e) => `${e.signal ?? `code ${e.code}`} at ${e.at_s} s`).join(', ')}); the tail of its stderr is in result.json (aggregator.target.stderr_tail).`);
  }
  if (ledger.totals.sink_duplicates > 0 && a.target) {
    findings.push(`${ledger.totals.sink_duplicates} duplicate rows reached the target's sink.`);
  } else if (ledger.totals.sink_duplicates > 0) {
    findings.push(`${ledger.totals.sink_duplicates} duplicate rows reached the sink (dedup '${scenario.aggregator.dedup}', sink mode '${scenario.aggregator.sink_mode}').`);
  }
  if (!open) {
    findings.push(`closed model (${scenario.load.concurrency} events in flight): each event was sent when an earlier one finished, so latency counts from the actual send and a stall is hidden (coordinated omission); use it for capacity, not for latency.`);
  }

  const recovery = recoveries(
    load.phases.map((p, i) => ({
      name: p.name,
      start_s: (p.start_us - load.start_us) / 1e6,
      end_s: (p.end_us - load.start_us) / 1e6,
      // Recovery is from faults that end (process, network) and from overload (a burst above
      // capacity); duplicates and the like shape the load itself.
      has_faults: scenario.phases[i]!.faults.some((f) => runsIn(f) === 'system') || overload.some((v) => v.phase === p.name && v.overloaded),
    })),
    ledger.per_second,
    a.timeline,
    drain.not_committed ?? 0,
    undefined,
    a.timeline.at(-1)?.backlog ?? 0,
  );
  for (const r of recovery.filter((x) => x.recovery_s === null)) {
    findings.push(`after phase '${r.phase}' the system did not get back to the p99 and backlog of phase '${r.baseline_phase}' within the run.`);
  }
  const lastObserved = Math.max(0, ...ledger.per_second.map((s) => s.t_s), ...a.timeline.map((s) => s.t_s));
  const recoveryForCheck = (r: Recovery) => r.recovery_s ?? lastObserved + 1 - (load.phases.find((p) => p.name === r.phase)!.end_us - load.start_us) / 1e6;
  const sampleAtEnd = (end_us: number) => {
    const t = (end_us - load.start_us) / 1e6;
    return a.timeline.filter((s) => s.t_s <= t + 0.5).at(-1);
  };

  const partial = {
    recovery_s: recovery.length === 0 ? 0 : round(Math.max(...recovery.map(recoveryForCheck)), 2),
    totals,
    latency: { end_to_end: latencyResult(ledger.latency), publish_ack: latencyResult(load.publish_ack) },
  };
  const checks = bare ? [] : evaluateChecks(scenario.checks, partial);
  return {
    schema: RESULT_SCHEMA,
    run_id: a.runId,
    scenario,
    overrides: a.options.overrides,
    seed: scenario.seed,
    git_sha: gitSha(),
    started_at: a.started.toISOString(),
    machine: machineFacts(),
    versions: packageVersions(),
    broker: { kind: a.brokerKind, url: a.brokerUrl, software: a.brokerSoftware, ...a.brokerAccess },
    ...(a.sink ? { sink: a.sink } : {}),
    aggregator: { kind: a.aggregatorKind, claim_order: a.claimOrder, self_reported: a.counters, ...(a.target ? { target: a.target } : {}) },
    rates,
    throughput: {
      model: scenario.load.model,
      target_per_s: round(target),
      offered_per_s: round(offered),
      committed_per_s: round(committedPerS),
    },
    generator: {
      model: scenario.load.model,
      workers: scenario.load.workers,
      publishers: scenario.load.publishers,
      lag_p99_ms: lag.p99_ms,
      lag_max_ms: lag.max_ms,
      max_lag_ms: maxLagMs,
      dropped,
      dropped_window_full: load.phases.reduce((sum, p) => sum + p.dropped_window, 0),
      window_waits: load.window_waits,
      unsettled: load.unsettled,
      rss_peak_mb: round(a.rssPeakMb),
    },
    drain,
    ...partial,
    ...(bare || a.target?.commit_time === false ? {} : { latency_end: { ...LATENCY_END, commit_time_unrecorded: ledger.commit_time_unrecorded } }),
    phases: load.phases.map((phase, i) => {
      const counted = ledger.phases[i]!;
      const duration_s = (phase.end_us - phase.start_us) / 1e6;
      const verdict = overload.find((v) => v.phase === phase.name);
      return {
        name: phase.name,
        duration_s,
        target_rate: phase.target_rate,
        offered_per_s: round(phase.handed_off / duration_s),
        published: counted.published,
        dropped: droppedOf(phase),
        dropped_window_full: phase.dropped_window,
        lag_p99_ms: phaseLag[i]!.p99_ms,
        lag_max_ms: phaseLag[i]!.max_ms,
        unique_committed: counted.unique_committed,
        lost: counted.lost,
        excluded_from_totals: a.excluded.has(i),
        overloaded: verdict?.overloaded ?? false,
        system_faults: systemFaultsOf(phase.name),
        sink_duplicates: counted.sink_duplicates,
        retries: (sampleAtEnd(phase.end_us)?.retries ?? 0) - (sampleAtEnd(phase.start_us)?.retries ?? 0),
        redelivered: (sampleAtEnd(phase.end_us)?.redelivered ?? 0) - (sampleAtEnd(phase.start_us)?.redelivered ?? 0),
        recovery: recovery.find((r) => r.phase === phase.name) ?? null,
        load: verdict ?? null,
        latency: latencyResult(counted.latency),
      };
    }),
    timeline: a.timeline,
    backlog_source: a.backlogSource,
    commits_per_second: ledger.per_second,
    faults: load.faults,
    checks,
    passed: checks.every((c) => c.passed),
    valid: invalid.length === 0,
    invalid_reasons: invalid,
    findings,
    duration_s: round((Date.now() - a.started.getTime()) / 1000),
    ...(a.cost ? { cost: a.cost } : {}),
  };
}

/** What a drain's reason says was counted (result.json drain.counted). */
const DRAIN_COUNTED_BY: Record<DrainCount, string> = {
  sink: 'the sink',
  broker: "the subscriber's PUBACKs as the broker counted them",
  'subscriber (self-reported)': "the subscriber's acks (self-reported)",
};

/**
 * The drain as result.json records it: a drain cut short by its timeout says how many events were
 * still not committed at the final read (the ledger's lost) and why.
 */
export function drainOutcome(drain: RunResult['drain'], notCommitted: number, timeoutS: number): RunResult['drain'] {
  if (drain.complete) return drain;
  const progress =
    drain.last_progress_s === undefined ? '' : drain.last_progress_s === null ? ', with no progress during the drain' : `, the last progress ${round(drain.drain_s - drain.last_progress_s, 1)} s before it ended`;
  return {
    ...drain,
    not_committed: notCommitted,
    reason: `stopped at its timeout (drain_timeout_s ${timeoutS} s) with ${drain.outstanding} broker-acknowledged messages not accounted for by ${DRAIN_COUNTED_BY[drain.counted ?? 'sink']}${progress}`,
  };
}

/**
 * What a loss looked like from the harness: the ledger's count, and whether the broker delivered
 * fewer messages than it acknowledged (by the aggregator's self-reported receive count). Advice
 * about a broker's configuration only for the broker that was actually in use. It says what was
 * seen by the end of the drain ("had not delivered them"), not that the broker dropped them: a
 * broker may still hold them and resend on a timer (NATS after its ack_wait, docs/own-broker.md).
 */
export function lossFinding(lost: number, undelivered: number, brokerSoftware: string): string {
  const observed = `${lost} events were acknowledged by the broker but never committed to the sink`;
  if (undelivered <= 0) return `${observed}.`;
  const dropped = `${observed}, and the aggregator reports receiving ${undelivered} fewer messages than the broker acknowledged (self-reported): the broker (${brokerSoftware}) had not delivered them by the end of the drain.`;
  return /mosquitto/i.test(brokerSoftware)
    ? `${dropped} Mosquitto with its default limits (max_queued_messages 1000, max_inflight_messages 20) silently discards QoS 1 messages for a subscriber that falls behind; raise max_queued_messages (0 = unlimited) or slow the load.`
    : dropped;
}

export function round(value: number, digits = 1): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

export function gitSha(): string {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    return 'unknown';
  }
}

function machineFacts(): RunResult['machine'] {
  const cpus = os.cpus();
  return {
    node: process.version,
    platform: process.platform,
    arch: process.arch,
    cpus: cpus.length,
    cpu_model: cpus[0]?.model ?? 'unknown',
    total_memory_gb: round(os.totalmem() / 1024 ** 3),
  };
}

function packageVersions(): Record<string, string> {
  const versions: Record<string, string> = {};
  for (const name of ['aedes', 'mqtt', 'mqtt-packet', 'better-sqlite3', 'hdr-histogram-js']) versions[name] = installedVersion(name);
  versions.chaosbench = (JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
  return versions;
}
