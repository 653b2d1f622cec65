// The scenario format: plain, serialisable data (no closures), validated in full before anything
// starts. Every error carries its path, e.g. `phases[1].rate must be > 0`.

import type { ScenarioAggregatorSettings } from '../aggregator/config.ts';

export interface DuplicateFault {
  kind: 'duplicate';
  /** Probability that an event is published again with the same event_id. */
  fraction: number;
  /** Of the copies, the share sent right after the original; the rest after a delay drawn per copy. */
  immediate_share: number;
  /** The delay of a delayed copy: the fixed delay, the upper bound (uniform) or the mean (exponential). */
  delay_ms: number;
  /** Of the copies, the share sent from a separate connection rather than the original publisher's. */
  other_connection_share: number;
  /**
   * How delayed copies' delays are drawn (seeded): 'fixed' (default) every copy after `delay_ms`;
   * 'uniform' in [0, delay_ms); 'exponential' with mean `delay_ms`, capped at
   * DUPLICATE_EXPONENTIAL_CAP × delay_ms so the phase's end waits a bounded time for the last copy.
   */
  delay_distribution?: DuplicateDelayDistribution;
}
export type DuplicateDelayDistribution = 'fixed' | 'uniform' | 'exponential';
export const DUPLICATE_DELAY_DISTRIBUTIONS: readonly DuplicateDelayDistribution[] = ['fixed', 'uniform', 'exponential'];
/** Exponential delays are capped at this many means (e^-5 ≈ 0.67% of draws land on the cap). */
export const DUPLICATE_EXPONENTIAL_CAP = 5;

/** Hold back a seeded fraction of events and release each after 1..`window` later events of its source. */
export interface ReorderFault {
  kind: 'reorder';
  fraction: number;
  window: number;
}

/** Publish malformed messages beside the stream: they must land in the DLQ with a reason. */
export interface PoisonFault {
  kind: 'poison';
  /** Poison messages per healthy event (e.g. 0.02: one for every 50 events). */
  fraction: number;
  /** What the poison looks like, chosen uniformly per message. */
  shapes: PoisonShape[];
}
export type PoisonShape = 'not-json' | 'oversized' | 'schema';
export const POISON_SHAPES: readonly PoisonShape[] = ['not-json', 'oversized', 'schema'];

/** One publisher's clock is off: its events carry `ts` shifted by `skew_ms` (seq and intended time are true). */
export interface ClockSkewFault {
  kind: 'clock-skew';
  publisher: number;
  skew_ms: number;
}

/** SIGKILL a process `at_s` into the phase (then every `every_s`, 0 = once) and restart it after `downtime_ms`. */
interface KillSchedule {
  at_s: number;
  every_s: number;
  downtime_ms: number;
}
export interface ConsumerCrashFault extends KillSchedule {
  kind: 'consumer-crash';
}
export interface BrokerKillFault extends KillSchedule {
  kind: 'broker-kill';
}

/**
 * Sink commits take `delay_ms` plus seeded uniform jitter, and stall for `stall_ms` every `stall_every_s` (0 = never).
 * `error_rate` (default 0): the seeded share of commits that fail with a transient error (as a busy or
 * briefly unreachable database does), which the aggregator must retry, never ack.
 */
export interface SlowSinkFault {
  kind: 'slow-sink';
  delay_ms: number;
  jitter_ms: number;
  stall_every_s: number;
  stall_ms: number;
  error_rate?: number;
}

/**
 * Network toxics, applied by a TCP proxy the harness runs between the clients and the broker (like
 * Toxiproxy). `target`: whose connections; `direction`: upstream = client → broker; `toxicity`:
 * probability that a given connection is affected (seeded).
 */
interface NetworkFaultBase {
  target: 'publishers' | 'aggregator' | 'all';
  direction: 'upstream' | 'downstream' | 'both';
  toxicity: number;
}
export interface LatencyFault extends NetworkFaultBase {
  kind: 'latency';
  latency_ms: number;
  jitter_ms: number;
}
export interface BandwidthFault extends NetworkFaultBase {
  kind: 'bandwidth';
  rate_kb_s: number;
}
export interface SlicerFault extends NetworkFaultBase {
  kind: 'slicer';
  average_size: number;
  size_variation: number;
  delay_us: number;
}
/** A partition: no byte passes while the phase lasts; if close_after_ms > 0 the connections are closed after that long. */
export interface PartitionFault extends NetworkFaultBase {
  kind: 'partition';
  close_after_ms: number;
}
/** Reset affected connections (TCP RST) `after_ms` into the phase (or after they open). */
export interface ResetPeerFault extends NetworkFaultBase {
  kind: 'reset-peer';
  after_ms: number;
}
export type NetworkFaultSpec = LatencyFault | BandwidthFault | SlicerFault | PartitionFault | ResetPeerFault;
/** Phases named like this are run but left out of overall latency and throughput, and of the generator's lag. */
export const WARMUP_PHASE = 'warmup';

/**
 * load.max_lag_ms when a scenario does not set it: 50 times the generator-lag p99 that already makes
 * a run invalid, and longer than a broker restart (the embedded broker's 1 s broker-kill plus the
 * publishers' 500 ms reconnect) during which the windows stay full.
 */
export const DEFAULT_MAX_LAG_MS = 5_000;

/**
 * load.wake_interval_ms when a scenario does not set it: 1 ms, so the generator adds at most about
 * a millisecond to every end-to-end latency. 4 ms halves the load worker's CPU per message at
 * 10,000 ev/s (docs/lab/2026-12-03-generator-cost-2.md) for up to 4 ms more lag.
 */
export const DEFAULT_WAKE_INTERVAL_MS = 1;
/** The longest load.wake_interval_ms a scenario may set. */
export const MAX_WAKE_INTERVAL_MS = 100;

export const NETWORK_FAULT_KINDS: readonly NetworkFaultSpec['kind'][] = ['latency', 'bandwidth', 'slicer', 'partition', 'reset-peer'];

export type FaultSpec =
  | DuplicateFault
  | ReorderFault
  | PoisonFault
  | ClockSkewFault
  | ConsumerCrashFault
  | BrokerKillFault
  | SlowSinkFault
  | NetworkFaultSpec;
export type FaultKind = FaultSpec['kind'];

/** Events per second over all publishers: constant, or ramping linearly from → to over the phase. */
export type Rate = number | { from: number; to: number };

export interface Phase {
  name: string;
  duration_s: number;
  /** Target arrival rate (open model); ignored by the closed model, which sends as fast as it can. */
  rate: Rate;
  faults: FaultSpec[];
}

/**
 * open: follow a schedule of intended send times (wrk2, k6 arrival-rate executors); latency counts
 * from the intended time. closed: keep `concurrency` events in flight end to end (published, not
 * yet committed) and send the next when one completes; latency counts from the actual send, so a
 * stall delays only the events in flight (coordinated omission, for comparison and capacity probes).
 */
export type LoadModel = 'open' | 'closed';

export type CheckMetric =
  | 'lost'
  | 'lost_unacked'
  | 'never_sent'
  | 'sink_duplicates'
  | 'unexpected'
  | 'dlq'
  | 'p50_ms'
  | 'p99_ms'
  | LatencyStatMetric
  | 'duplicates_absorbed'
  | 'committed_ratio'
  | 'reordered'
  | 'dead_lettered'
  | 'recovery_s';
/** End-to-end latency statistics beyond p50/p99 (result.json latency.end_to_end), reached mostly through k6 thresholds (`avg<…`, `p(95)<…`). */
export type LatencyStatMetric = 'min_ms' | 'mean_ms' | 'p75_ms' | 'p90_ms' | 'p95_ms' | 'p99_9_ms' | 'p99_99_ms' | 'max_ms';
export type CheckOp = '==' | '<' | '<=' | '>' | '>=';

/**
 * A check as the harness evaluates it. A scenario may write one in k6's threshold syntax instead of
 * op and value (`{ metric: 'p99_ms', threshold: 'p(99)<50' }`, `{ metric: 'latency_ms', threshold:
 * 'p(95)<=20' }`, `{ metric: 'lost', threshold: 'count==0' }`: scenarios/k6-threshold.ts); the
 * validator turns it into metric, op and value and keeps the expression as written in `threshold`.
 */
export interface Check {
  metric: CheckMetric;
  op: CheckOp;
  value: number;
  threshold?: string;
}

/**
 * The aggregator's settings a scenario sets: which ones, required or optional, and their types come
 * from the aggregator's table of settings (aggregator/config.ts), as do their checks and defaults.
 */
export type ScenarioAggregator = ScenarioAggregatorSettings;

/**
 * Your own consumer as the system under test (docs/bring-your-own-consumer.md): a command the
 * harness starts, waits for, stops and (consumer-crash) SIGKILLs and restarts, and how to read what
 * it committed. Plain data; the harness passes the broker URL, topic filter, client id and sink in
 * the environment (engine/target/contract.ts). Absent: the built-in target (--aggregator).
 */
export interface ScenarioTarget {
  /** The program and its arguments (no shell), started in the harness's working directory. */
  command: string[];
  /** Extra environment for the process (only the names go into result.json: values may be secrets). */
  env?: Record<string, string>;
  /** When it is ready to consume: a line on its stdout or stderr matching this regex, a TCP port on 127.0.0.1 accepting connections, or a fixed delay. */
  ready: { log_line: string } | { tcp_port: number } | { delay_ms: number };
  /** Longest wait for ready, at the start and after each restart (default 20000): then the run cannot complete, exit 3. */
  ready_timeout_ms?: number;
  /** The signal that asks it to stop at the end of the run (default SIGTERM); SIGKILL after stop_grace_ms (default 10000). */
  stop_signal?: TargetStopSignal;
  stop_grace_ms?: number;
  sink: TargetSink;
}
export type TargetStopSignal = 'SIGTERM' | 'SIGINT' | 'SIGHUP' | 'SIGQUIT' | 'SIGUSR1' | 'SIGUSR2';
export const TARGET_STOP_SIGNALS: readonly TargetStopSignal[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
/**
 * How the harness reads what the target committed, in the sink the harness gives it (a fresh
 * SQLite file or PostgreSQL schema per run): the reference schema (docs/aggregator.md), or a query
 * returning one row per committed write, in commit order, with the event id and, if it has one, a
 * commit time (a number in commit_time_unit, or a timestamp). No commit time: latency is not measured.
 */
export type TargetSink =
  | { kind: 'reference-schema' }
  | { kind: 'query'; query: string; event_id_column?: string; commit_time_column?: string; commit_time_unit?: CommitTimeUnit };
export type CommitTimeUnit = 'ms' | 'us' | 's';
export const COMMIT_TIME_UNITS: readonly CommitTimeUnit[] = ['ms', 'us', 's'];

export interface Scenario {
  name: string;
  description: string;
  seed: number;
  load: {
    model: LoadModel;
    /** Closed model only: events in flight end to end over all publishers. */
    concurrency: number;
    /** Publisher connections (one source each); spread over the worker threads. */
    publishers: number;
    /** Worker threads that run the publishers, so the generator is not the bottleneck. */
    workers: number;
    payload_bytes: number;
    /** Topics per source the events are spread over (fan-out), <root>/<source>/<n>. */
    topics: number;
    /** Most un-acked QoS 1 publishes per publisher connection (mqtt.js does not cap this itself). */
    window: number;
    /** A publish without a PUBACK for this long frees its window slot and counts as an error. */
    puback_timeout_ms: number;
    /**
     * Open model: an event that would be handed to its connection more than this long after its
     * intended time, or behind a window queue whose oldest event is already this late, is dropped
     * (never sent, never in the publish log) and counted; any drop makes the run invalid. Bounds
     * how late the schedule can run and how much the harness queues. Default DEFAULT_MAX_LAG_MS.
     */
    max_lag_ms?: number;
    /**
     * The shortest time between two wake-ups of a load worker (ms, 1–100; default
     * DEFAULT_WAKE_INTERVAL_MS). Each wake-up hands off everything that has come due in one socket
     * write per connection: a longer interval costs less CPU per message at high rates, and adds up
     * to that much generator lag, which end-to-end latency counts (intended times stay the schedule's).
     */
    wake_interval_ms?: number;
    /**
     * QoS of the publishes: 1 (default: the broker acknowledges each one) or 0 (fire and forget: an
     * event counts as acknowledged once it is written to the socket, since nothing else will say so).
     */
    qos?: 0 | 1;
  };
  phases: Phase[];
  aggregator: ScenarioAggregator;
  /** The embedded broker's settings (docs/scenarios-and-faults.md, "The embedded broker"). */
  broker?: ScenarioBroker;
  /**
   * One budget, counted from the end of the schedule, for the load's wait for PUBACKs and the drain
   * after it: the run stops waiting at most this long after the schedule's end. Events not committed by then are reported as
   * not committed by the end of the drain, with the reason, and count as lost.
   */
  drain_timeout_s: number;
  checks: Check[];
  /** Your own consumer instead of the reference aggregator (the aggregator section then does not apply). */
  target?: ScenarioTarget;
}

/** The embedded broker's settings; an external broker (--broker mqtt://…) has its own configuration. */
export interface ScenarioBroker {
  /** Where it keeps sessions and queued messages (what survives broker-kill). Default memory. */
  persistence?: 'memory' | 'redis';
  /**
   * The largest PUBLISH (MQTT remaining length, bytes) a client may send: a client whose PUBLISH
   * header says more is disconnected at that header, before the broker buffers the message (Aedes
   * holds each packet whole: a 250 MiB message cost it about 500 MB). In
   * [MIN_MAX_PUBLISH_BYTES, MQTT_MAX_REMAINING_LENGTH]; absent (the default): no limit but MQTT's.
   * Refused with an external broker.
   */
  max_publish_bytes?: number;
}
/** The largest remaining length MQTT can encode (four bytes of seven bits): a limit at it is none. */
export const MQTT_MAX_REMAINING_LENGTH = 268_435_455;
/**
 * The smallest broker.max_publish_bytes: 128 KiB, above every message the harness itself sends
 * (an event's payload is at most the aggregator's 64 KiB, a poison 'oversized' message 1 KiB more,
 * plus envelope and topic), so that a limit cuts a foreign message, never the run's own publishers.
 */
export const MIN_MAX_PUBLISH_BYTES = 128 * 1024;

export const CHECK_METRICS: readonly CheckMetric[] = [
  'lost',
  'lost_unacked',
  'never_sent',
  'sink_duplicates',
  'unexpected',
  'dlq',
  'p50_ms',
  'p99_ms',
  'min_ms',
  'mean_ms',
  'p75_ms',
  'p90_ms',
  'p95_ms',
  'p99_9_ms',
  'p99_99_ms',
  'max_ms',
  'duplicates_absorbed',
  'committed_ratio',
  'reordered',
  'dead_lettered',
  'recovery_s',
];
export const CHECK_OPS: readonly CheckOp[] = ['==', '<', '<=', '>', '>='];
