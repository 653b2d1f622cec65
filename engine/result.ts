// result.json, schema chaosbench.result/v1: the only contract between a run and everything that
// reads it (reports, comparisons, the gate). Types only, plus the check evaluation (pure) and the
// table of what a drain can count.

import type { AggregatorCounters } from '../aggregator/pipeline.ts';
import type { Check, LatencyStatMetric, Scenario } from '../scenarios/schema.ts';
import type { LatencySummary } from './metrics/histogram.ts';
import type { LedgerTotals } from './ledger/index.ts';
import type { FaultRecord } from './load/generator.ts';
import { BACKLOG_SOURCES, type BacklogSource, type PhaseLoad, type TimelineSample } from './metrics/backlog.ts';
import type { Recovery } from './metrics/recovery.ts';
import type { LedgerSecond } from './ledger/index.ts';
import type { Shard } from './load/shard.ts';
import type { CostSection } from './metrics/process-cpu.ts';

export const RESULT_SCHEMA = 'chaosbench.result/v1';

/**
 * What the drain counted (result.json drain.counted): 'sink', the sink's durable events and dead
 * letters as the harness reads them; for a bare subscriber, which has no sink, 'broker', the
 * embedded broker's count of the PUBACKs it received from the subscriber, or 'subscriber
 * (self-reported)', the subscriber's own acked counter, for a broker whose counts the harness
 * cannot read.
 */
export const DRAIN_COUNTS = ['sink', ...BACKLOG_SOURCES] as const;
export type DrainCount = (typeof DRAIN_COUNTS)[number];

export interface LatencyResult extends LatencySummary {
  /** Compressed base64 HdrHistogram (µs, 3 significant digits). */
  histogram: string;
}

export interface PhaseResult {
  name: string;
  duration_s: number;
  target_rate: number;
  /** The phase's events handed to a connection before the phase ended, ÷ its duration: measured, not scheduled. */
  offered_per_s: number;
  published: number;
  /** The phase's events dropped, never sent: more than generator.max_lag_ms behind schedule. */
  dropped: number;
  /** Of those, dropped because their connection's window queue already held a publish that late. */
  dropped_window_full: number;
  /** Generator lag (hand-off − intended time) of the phase's events that were handed off; judged per measured phase. */
  lag_p99_ms: number;
  lag_max_ms: number;
  unique_committed: number;
  lost: number;
  excluded_from_totals: boolean;
  /** The backlog grew for the whole phase: the system could not keep up (a result, not an invalid run). */
  overloaded: boolean;
  /** Kinds of the phase's faults that act on the system (processes, network) rather than on the load. */
  system_faults: string[];
  /** Extra sink rows of this phase's events; retries and repeat deliveries the aggregator reported during it. */
  sink_duplicates: number;
  retries: number;
  redelivered: number;
  /** For a phase with faults: how long after its end p99 and backlog were back to the last fault-free phase's. */
  recovery: Recovery | null;
  /** Backlog analysis of the phase (null when the phase was too short to judge). */
  load: PhaseLoad | null;
  latency: LatencyResult;
}

export interface CheckResult extends Check {
  /** null: not measured (a latency check on a run that committed nothing), and so failed. */
  actual: number | null;
  passed: boolean;
}

/** Which sink a run used: `sqlite:<path>`, or a PostgreSQL server (password shown as ***) and the run's schema (dropped after the run). */
export interface SinkDescription {
  kind: 'sqlite' | 'postgres';
  url: string;
  schema?: string;
  /** The target's own query the harness read it with (scenario target.sink), absent for the reference schema. */
  query?: string;
}

/** What a run records of your own consumer (docs/bring-your-own-consumer.md). */
export interface TargetRecord {
  command: string[];
  /** The names of the variables its scenario's target.env set (never their values). */
  env_names: string[];
  /** How its sink was read: the reference schema, or its own query (sink.query). */
  sink: 'reference-schema' | 'query';
  /** False: its sink gives no commit time, so end-to-end latency was not measured. */
  commit_time: boolean;
  restarts: number;
  /** Exits nobody asked for (not the stop at the end, not a consumer-crash SIGKILL). */
  unexpected_exits: { at_s: number; code: number | null; signal: string | null }[];
  /** The last few thousand characters of its stderr; kept when the run did not pass or it exited by itself. */
  stderr_tail?: string;
}

export interface RunResult {
  schema: typeof RESULT_SCHEMA;
  run_id: string;
  scenario: Scenario;
  /** CLI overrides applied to the scenario, as given. */
  overrides: Record<string, unknown>;
  seed: number;
  git_sha: string;
  started_at: string;
  machine: { node: string; platform: string; arch: string; cpus: number; cpu_model: string; total_memory_gb: number };
  versions: Record<string, string>;
  /** software: which broker it was (aedes and its version when embedded; $SYS/broker/version or 'unknown broker' when external); absent in results written before it was recorded. */
  broker: {
    kind: 'embedded' | 'external';
    /** Never with user name or password. */
    url: string;
    software?: string;
    /** The MQTT version every client of the run spoke; absent in results written before it was recorded (3.1.1 then). */
    mqtt_version?: '3.1.1' | '5';
    /** Whether the clients presented a client certificate (mqtts) and a password; never the password itself. */
    client_certificate?: boolean;
    password?: boolean;
  };
  /** The sink the aggregator committed to and the ledger read back (absent for a bare subscriber, and in results written before --sink). */
  sink?: SinkDescription;
  aggregator: {
    /** 'reference': the aggregator under test; 'none': a bare subscriber that acks on receipt; 'external': your own consumer (scenario target). */
    kind: 'reference' | 'none' | 'external';
    /** Your own consumer, when kind is 'external'. */
    target?: TargetRecord;
    claim_order: string;
    /** Counters the aggregator reported about itself: useful, but not what the ledger relies on. */
    self_reported: AggregatorCounters;
  };
  /** The harness's own figures only: what the aggregator says about itself is in aggregator.self_reported. */
  totals: LedgerTotals & {
    /** Publishes that failed, and publishes without a PUBACK within load.puback_timeout_ms. */
    publish_errors: number;
    puback_timeouts: number;
    /** Publish errors and PUBACK timeouts (the aggregator's own errors are self-reported). */
    errors: number;
  };
  rates: { duplicate_rate: number; loss_rate: number; error_rate: number; dlq_rate: number };
  throughput: { model: 'open' | 'closed'; target_per_s: number; offered_per_s: number; committed_per_s: number };
  generator: {
    model: 'open' | 'closed';
    workers: number;
    publishers: number;
    /** Hand-off time − intended send time of the originals of the measured phases, pooled (open model). */
    lag_p99_ms: number;
    lag_max_ms: number;
    /** load.max_lag_ms as run: events further behind schedule than this were dropped. */
    max_lag_ms: number;
    /** Events dropped, never sent and not in the ledger (any makes the run invalid); of them, behind a full window. */
    dropped: number;
    dropped_window_full: number;
    /** Times a publish waited for a free slot in its connection's window. */
    window_waits: number;
    /** Publishes still without a PUBACK when the harness stopped waiting. */
    unsettled: number;
    /** Peak resident memory of the harness process (main thread and load workers), sampled each second and after the ledger. */
    rss_peak_mb: number;
  };
  /**
   * After the load: waits until the sink accounts for every message the broker acknowledged
   * (distinct events plus dead letters; a bare subscriber: until the broker counted its PUBACKs for
   * them all, or where the broker's counts cannot be read, until it said it acked them all), or
   * drain_timeout_s has passed ('timeout'). 'stalled' appears only in results written before the
   * drain honoured its timeout (it stopped after 5 s without progress).
   */
  drain: {
    drain_s: number;
    complete: boolean;
    stopped: 'done' | 'stalled' | 'timeout';
    /** Broker-acknowledged messages what the drain counted did not account for when it stopped. */
    outstanding: number;
    /** What the drain counted (DRAIN_COUNTS); absent in results written before it was recorded (then: the sink, or a bare subscriber's self-reported acks). */
    counted?: DrainCount;
    /** Timeout: seconds into the drain of the last progress seen; null when nothing moved during the drain. */
    last_progress_s?: number | null;
    /** Timeout: events acknowledged by the broker and still not committed (nor dead-lettered) at the final read of the sink. */
    not_committed?: number;
    /** Timeout: why those events are missing, in words. */
    reason?: string;
  };
  latency: { end_to_end: LatencyResult; publish_ack: LatencyResult };
  /** Where end-to-end latency ends and on which clock; absent for a bare subscriber (nothing committed) and in results written before it was recorded. */
  latency_end?: {
    /** What each event's end-to-end latency ends at. */
    ends_at: string;
    /** The clock both ends are read from. */
    clock: string;
    /** Events whose COMMIT's return time was never recorded (the aggregator died in between): their latency ends at the start of that transaction, a lower bound. */
    commit_time_unrecorded: number;
  };
  phases: PhaseResult[];
  /** One sample a second: published, broker-acked, subscriber-acked and the backlog between them. */
  timeline: TimelineSample[];
  /**
   * Who counted the timeline's subscriber_acked (and so its backlog and consumed rate): the broker's
   * PUBACKs from its subscriber, or the subscriber's own word. Absent in results written before it
   * was recorded: their backlog was the subscriber's self-reported count.
   */
  backlog_source?: BacklogSource;
  /** First commits per second of commit time, with their p50/p99/max latency (from the sink). */
  commits_per_second: LedgerSecond[];
  /** Longest recovery over the phases with faults (s); a phase that did not recover counts until the end of the run. */
  recovery_s: number;
  faults: FaultRecord[];
  checks: CheckResult[];
  passed: boolean;
  valid: boolean;
  invalid_reasons: string[];
  /** Plain-language explanations of what the figures show (e.g. the likely cause of a loss). */
  findings: string[];
  duration_s: number;
  /**
   * CPU seconds and µs per message of each process and thread the run started, from /proc (not the
   * processes' own view); absent in results written before it was recorded, and where there is no /proc.
   */
  cost?: CostSection;
  /** Present when this process ran one shard of a run (--shard): `npm run merge` combines the shards. */
  shard?: Shard;
  /**
   * Present when the run was interrupted (SIGINT/SIGTERM): its schedule ended early, its drain was
   * skipped, and its figures are what had happened by then. Its verdict is INTERRUPTED.
   */
  interrupted?: Interruption;
}

/** An interrupted run: by which signal, and when (seconds from the run's start). */
export interface Interruption {
  signal: string;
  at_s: number;
}

/** What a merged result.json (commands/merge/merge.ts) says about each part: enough to find it and replay it. */
export interface MergedPartSummary {
  path: string;
  run_id: string;
  shard: string | null;
  started_at: string;
  duration_s: number;
  seed: number;
  git_sha: string;
  machine: RunResult['machine'];
  versions: Record<string, string>;
  broker: RunResult['broker'];
  valid: boolean;
  passed: boolean;
  published: number;
  unique_committed: number;
  lost: number;
  offered_per_s: number;
  committed_per_s: number;
  latency_p50_ms: number;
  latency_p99_ms: number;
  generator_lag_p99_ms: number;
}

export type MergedRunResult = RunResult & { merged_from: MergedPartSummary[] };

/** Each latency check metric's field of the end-to-end latency summary. */
const LATENCY_CHECK_FIELDS: Record<'p50_ms' | 'p99_ms' | LatencyStatMetric, keyof LatencySummary> = {
  min_ms: 'min_ms',
  mean_ms: 'mean_ms',
  p50_ms: 'p50_ms',
  p75_ms: 'p75_ms',
  p90_ms: 'p90_ms',
  p95_ms: 'p95_ms',
  p99_ms: 'p99_ms',
  p99_9_ms: 'p99_9_ms',
  p99_99_ms: 'p99_99_ms',
  max_ms: 'max_ms',
};

/**
 * The value a check's metric refers to; null when the run did not measure it: a latency percentile
 * of a run that committed nothing is no latency at all (its empty histogram reads 0 ms, which would
 * pass any latency bound).
 */
export function metricValue(result: Pick<RunResult, 'totals' | 'latency'> & { recovery_s?: number }, metric: Check['metric']): number | null {
  const t = result.totals;
  switch (metric) {
    case 'lost':
      return t.lost;
    case 'lost_unacked':
      return t.lost_unacked;
    case 'never_sent':
      return t.never_sent;
    case 'sink_duplicates':
      return t.sink_duplicates;
    case 'unexpected':
      return t.unexpected;
    case 'dlq':
      return t.dlq;
    case 'duplicates_absorbed':
      return t.copies_absorbed;
    case 'committed_ratio':
      return t.published === 0 ? 0 : t.unique_committed / t.published;
    case 'recovery_s':
      return result.recovery_s ?? 0;
    case 'reordered':
      return t.reordered;
    case 'dead_lettered':
      return t.dead_lettered;
    default:
      return result.latency.end_to_end.count === 0 ? null : result.latency.end_to_end[LATENCY_CHECK_FIELDS[metric]];
  }
}

/**
 * The counts that say events were lost or never got through (the gate holds every run to the same
 * table). A failed check on one of them is a failure whatever else made the run invalid as a
 * measurement: the events are gone however late the generator sent them.
 */
export const CORRECTNESS_METRICS = ['lost', 'lost_unacked', 'never_sent', 'sink_duplicates'] as const;
export type CorrectnessMetric = (typeof CORRECTNESS_METRICS)[number];

const isCorrectnessMetric = (metric: string): metric is CorrectnessMetric => (CORRECTNESS_METRICS as readonly string[]).includes(metric);

/**
 * A finished run's verdict, in order of precedence: interrupted (nothing judged), a failed
 * correctness check, an invalid run, any failed check, a pass.
 */
export type RunVerdict = 'interrupted' | 'fail' | 'invalid' | 'pass';

type Judged = Pick<RunResult, 'valid' | 'checks' | 'interrupted'>;

/** The failed checks on events lost, never acked, never sent or doubled. */
export function failedCorrectnessChecks(result: Pick<RunResult, 'checks'>): CheckResult[] {
  return result.checks.filter((c) => !c.passed && isCorrectnessMetric(c.metric));
}

/**
 * The failed checks a verdict reports: on an invalid run only the correctness ones are judged; on
 * an interrupted run none (events it had no time to commit are not lost by the system).
 */
export function judgedFailures(result: Judged): CheckResult[] {
  if (result.interrupted) return [];
  return result.valid ? result.checks.filter((c) => !c.passed) : failedCorrectnessChecks(result);
}

// A check's actual value with enough digits that it cannot round onto its threshold: a failed
// `committed_ratio >= 1` must not read "was 1.00".
export const checkActual = (value: number | null) => (value === null ? 'not measured' : Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(6))));

/** A failed check as the verdict line names it: `lost == 0 (was 3948)`. */
export const describeFailedCheck = (check: CheckResult) => `${check.metric} ${check.op} ${check.value} (was ${checkActual(check.actual)})`;

export function runVerdict(result: Judged): RunVerdict {
  if (result.interrupted) return 'interrupted';
  if (judgedFailures(result).length > 0) return 'fail';
  return result.valid ? 'pass' : 'invalid';
}

export function evaluateChecks(checks: readonly Check[], result: Pick<RunResult, 'totals' | 'latency'> & { recovery_s?: number }): CheckResult[] {
  return checks.map((check) => {
    const actual = metricValue(result, check.metric);
    // Not measured is never a pass.
    const passed = actual !== null && compare(actual, check.op, check.value);
    return { ...check, actual, passed };
  });
}

function compare(actual: number, op: Check['op'], value: number): boolean {
  switch (op) {
    case '==':
      return actual === value;
    case '<':
      return actual < value;
    case '<=':
      return actual <= value;
    case '>':
      return actual > value;
    case '>=':
      return actual >= value;
  }
}
