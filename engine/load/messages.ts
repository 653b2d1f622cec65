// Messages between the load generator (main thread) and its worker threads. Plain data only:
// everything crosses a thread boundary by structured clone (typed arrays are transferred).

import type { Scenario } from '../../scenarios/schema.ts';
import type { PublishLogSnapshot } from './log.ts';
import type { Shard } from './shard.ts';
import type { BrokerAccess } from '../../aggregator/consumer/access.ts';

export interface FaultRecord {
  phase: string;
  /** Index of the fault in its phase's list. */
  fault: number;
  kind: string;
  injected: Record<string, number>;
}

export interface WorkerPlan {
  scenario: Scenario;
  worker: number;
  broker_url: string;
  /** MQTT version, TLS material and credentials for broker_url (structured clone: never argv). */
  broker_access?: BrokerAccess;
  /** Topic root for this run, e.g. events/<run id>; events go to <root>/<source>[/<n>]. */
  topic_root: string;
  client_prefix: string;
  settle_timeout_ms: number;
  /** This process's share of the publishers (--shard); absent: all of them. */
  shard?: Shard;
  /** --cpu-prof: write this worker's CPU profile into this directory as load-worker-<n>.cpuprofile. */
  cpu_prof_dir?: string;
}

/** go: start the schedule; credit: closed-model permits; status: reply with a WorkerStatus now. */
/** 'stop': the run was interrupted: end the schedule now, settle briefly and send 'done' as usual. */
export type MainToWorker = { type: 'go'; start_us: number } | { type: 'credit'; n: number } | { type: 'status' } | { type: 'stop' };

export interface WorkerStatus {
  type: 'status';
  worker: number;
  /** Original events handed to a connection so far. */
  published: number;
  /** Publishes (originals and copies) the broker has acknowledged. */
  acked: number;
  /** Publishes queued or waiting for a PUBACK. */
  pending: number;
  errors: number;
  /** Worst generator lag since the previous status request (µs). */
  lag_max_us: number;
  /** Events dropped so far, more than load.max_lag_ms behind their schedule (never sent). */
  dropped: number;
  publish_ack_p99_us: number;
}

export interface WorkerDone {
  type: 'done';
  worker: number;
  log: PublishLogSnapshot;
  /** What this worker did in each phase of the schedule, in order. */
  phases: WorkerPhase[];
  /** Encoded histogram (base64 compressed HDR). */
  publish_ack: string;
  faults: FaultRecord[];
  window_waits: number;
  /** Publishes still without PUBACK when the settle timeout ran out. */
  unsettled: number;
}

/** One worker's figures for one phase: what it really offered, not what the schedule said. */
export interface WorkerPhase {
  /** The phase's events handed to their connection before the phase ended. */
  handed_off: number;
  /** The phase's events dropped because their hand-off would have been more than load.max_lag_ms late... */
  dropped_late: number;
  /** ...or because their connection's window queue already held a publish that much behind its due time. */
  dropped_window: number;
  /** Hand-off time − intended time of the phase's events that were handed off (encoded HDR, µs). */
  lag: string;
  /** The worker's wake-ups that ran something during the phase (engine/load/wakeups.ts). */
  wake_ups: number;
}

export type WorkerToMain =
  /** tid: the worker thread's own id (/proc/thread-self), for its CPU time in /proc/<pid>/task/<tid>/stat; absent without /proc. */
  | { type: 'ready'; worker: number; tid?: number }
  | WorkerStatus
  | WorkerDone
  | { type: 'error'; worker: number; message: string };
